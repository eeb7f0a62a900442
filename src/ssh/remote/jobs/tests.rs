//! The job scripts run in a real sh with a private HOME: start, read with waiting, the end's
//! status, stop, and the hostile ids they refuse.

use std::process::Command;
use std::time::{Duration, Instant};

use super::*;
use crate::ssh::remote::scripts::wrap_command;

struct Host {
    home: tempfile::TempDir,
}

impl Host {
    fn new() -> Self {
        Self {
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// Runs `script` in sh as the job scripts reach it: (exit code, stdout, stderr).
    fn sh(&self, script: &str) -> (i32, Vec<u8>, String) {
        let out = Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("HOME", self.home.path())
            .env_remove("XDG_CACHE_HOME")
            .env("SHELL", "/bin/sh")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            out.stdout,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn start(&self, id: &JobId, command: &str) -> (u32, String) {
        let (code, out, err) = self.sh(&start_script(
            id,
            &wrap_command(command, None, None, &[]),
            7,
        ));
        assert_eq!(code, 0, "{err}");
        parse_started(&String::from_utf8_lossy(&out), id).expect("pgid and directory")
    }

    fn read(
        &self,
        dir: &str,
        pgid: u32,
        stream: &str,
        offset: u64,
        wait: u32,
    ) -> (ReadHeader, Vec<u8>) {
        let (code, out, err) = self.sh(&read_script(dir, pgid, stream, offset, 1 << 20, wait));
        assert_eq!(code, 0, "{err}");
        (parse_read_header(&err).expect("a header"), out)
    }
}

fn id(n: u8) -> JobId {
    JobId::parse(&format!("job-00000000000000{n:02x}")).unwrap()
}

#[test]
fn a_job_runs_detached_and_its_output_and_status_are_read_back() {
    let host = Host::new();
    let (pgid, dir) = host.start(
        &id(1),
        "echo out; echo err >&2; sleep 0.3; echo more; exit 3",
    );
    assert!(dir.starts_with(host.home.path().to_str().unwrap()), "{dir}");
    assert!(
        dir.ends_with("/.cache/ssh-mcp/jobs/job-0000000000000001"),
        "{dir}"
    );
    // Waiting returns as soon as the end comes (well before the 5 s asked for).
    let started = Instant::now();
    let mut data = Vec::new();
    let mut header;
    loop {
        let (h, page) = host.read(&dir, pgid, "stdout", data.len() as u64, 50);
        data.extend_from_slice(&page);
        header = h;
        if header.status.is_some() && data.len() as u64 == header.sizes[0] {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{header:?}");
    }
    assert_eq!(data, b"out\nmore\n");
    assert_eq!(
        parse_status(header.status.as_deref().unwrap()),
        Some(JobEnd::Exited(3))
    );
    let (h, err) = host.read(&dir, pgid, "stderr", 0, 0);
    assert_eq!((err.as_slice(), h.sizes), (&b"err\n"[..], [9, 4]));
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&dir).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700);
    // A page from an offset, and the end reached.
    let (_, tail) = host.read(&dir, pgid, "stdout", 4, 0);
    assert_eq!(tail, b"more\n");
    let (_, none) = host.read(&dir, pgid, "stdout", 9, 0);
    assert!(none.is_empty());
    host.sh(&remove_script(&dir));
    assert!(!std::path::Path::new(&dir).exists());
}

#[test]
fn a_stopped_job_leaves_no_process_and_says_how_it_ended() {
    let host = Host::new();
    let (pgid, dir) = host.start(&id(2), "trap '' TERM; sleep 30 & sleep 30; wait");
    let (h, _) = host.read(&dir, pgid, "stdout", 0, 0);
    assert!(h.alive && h.status.is_none(), "{h:?}");
    let (code, out, err) = host.sh(&stop_script(&dir, pgid, 5));
    assert_eq!(code, 0, "{err}");
    // The job ignores SIGTERM: SIGKILL ends it after the grace.
    assert_eq!(String::from_utf8_lossy(&out).trim(), "9");
    let (h, _) = host.read(&dir, pgid, "stdout", 0, 0);
    assert!(!h.alive, "{h:?}");
    assert_eq!(
        parse_status(h.status.as_deref().unwrap()),
        Some(JobEnd::Stopped(9))
    );
    let (_, out, _) = host.sh(&stop_script(&dir, pgid, 5));
    assert_eq!(String::from_utf8_lossy(&out).trim(), "ended");
}

#[test]
fn only_job_ids_name_a_job() {
    for bad in [
        "",
        "job-",
        "job-../../../etc",
        "job-0123456789abcdeg",
        "job-0123456789abcdef0",
        "out-0123456789abcdef",
    ] {
        assert!(JobId::parse(bad).is_none(), "{bad}");
    }
    let good = id(3);
    assert_eq!(
        parse_started(
            "123 /home/u/.cache/ssh-mcp/jobs/job-0000000000000003\n",
            &good
        )
        .unwrap()
        .0,
        123
    );
    assert!(parse_started("123 relative/job-0000000000000003", &good).is_none());
    assert!(
        parse_started("1 /x/job-0000000000000003", &good).is_none(),
        "pgid 1 is never a job"
    );
    assert!(parse_started("123 /x/job-0000000000000004", &good).is_none());
}

#[test]
fn headers_and_statuses_read_back() {
    assert_eq!(
        parse_read_header("noise\nssh-mcp-job 12 3 1 \n"),
        Some(ReadHeader {
            sizes: [12, 3],
            alive: true,
            status: None
        })
    );
    assert_eq!(
        parse_read_header("ssh-mcp-job 0 0 0 stopped 15\n")
            .unwrap()
            .status
            .as_deref(),
        Some("stopped 15")
    );
    assert_eq!(parse_status("0"), Some(JobEnd::Exited(0)));
    assert_eq!(parse_status("stopped 15"), Some(JobEnd::Stopped(15)));
    assert_eq!(parse_status("garbage"), None);
}
