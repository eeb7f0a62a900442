//! The daemon's state directory on a small tmpfs that fills up: a session whose transcript can no
//! longer be written keeps running and says so (its observer's warning), a new session still
//! starts, commands still run, and nothing panics.

use std::process::Command;
use std::time::Duration;

use ssh_mcp_core::pb::{self, sessions_client::SessionsClient};

use crate::support::Scratch;
use crate::support::daemon::{Daemon, DaemonOptions, run_request};
use crate::support::sshd::Sshd;

/// A tmpfs of `size` mounted on `dir` for the life of the value.
struct SmallDisk {
    dir: std::path::PathBuf,
}

impl SmallDisk {
    fn mount(dir: std::path::PathBuf, size: &str) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&dir)
            .output()
            .expect("mount runs (package mount, util-linux)");
        assert!(
            out.status.success(),
            "cannot mount a tmpfs on {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

fn connection() -> Option<pb::Connection> {
    let (user, _) = crate::support::accounts::login_shell_account("bash");
    Some(pb::Connection {
        target: format!("{user}@testhost"),
        ..Default::default()
    })
}

async fn open(d: &Daemon) -> pb::SessionSnapshot {
    SessionsClient::new(d.channel().await)
        .open(pb::OpenSessionRequest {
            connection: connection(),
            observer_mode: Some("transcript".into()),
            ..Default::default()
        })
        .await
        .expect("a session starts on a full disk")
        .into_inner()
        .snapshot
        .unwrap()
}

/// Writes `input`, then reads until the output holds `needle`; the last snapshot.
async fn run(d: &Daemon, id: &str, input: &str, needle: &str) -> (String, pb::SessionSnapshot) {
    let mut client = SessionsClient::new(d.channel().await);
    client
        .write(pb::WriteSessionRequest {
            session_id: id.into(),
            input: input.as_bytes().to_vec(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let snap = client
            .read(pb::ReadSessionRequest {
                session_id: id.into(),
                read: Some(pb::ReadOptions {
                    wait_seconds: Some(1.0),
                    reader_id: "t".into(),
                    max_output_chars: Some(1 << 20),
                    ..Default::default()
                }),
            })
            .await
            .unwrap()
            .into_inner()
            .snapshot
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&snap.output));
        let tail_from = seen.len().saturating_sub(4096);
        let keep = seen.split_off(tail_from);
        seen = keep;
        if seen.contains(needle) || std::time::Instant::now() > deadline {
            return (seen, snap);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_state_disk_turns_transcripts_off_and_everything_else_goes_on() {
    let sshd = Sshd::start();
    let scratch = Scratch::new("disk-full");
    let disk = SmallDisk::mount(scratch.join("state"), "1m");
    let d = Daemon::start_with(DaemonOptions {
        ssh_config: Some(sshd.ssh_config()),
        state_dir: Some(disk.dir.clone()),
        ..Default::default()
    })
    .unwrap();

    let first = open(&d).await;
    // Three times the disk: the transcript fills it and stops.
    let (out, snap) = run(
        &d,
        &first.session_id,
        "head -c 3000000 /dev/zero | tr '\\0' y; echo; echo filled-$((6*7))\n",
        "filled-42",
    )
    .await;
    assert!(out.contains("filled-42"), "{out:?}");
    assert!(snap.running, "{snap:?}");
    let warning = snap
        .observer
        .as_ref()
        .and_then(|o| o.warning.clone())
        .unwrap_or_default();
    assert!(
        warning.contains("transcript is no longer written") && warning.contains("No space left"),
        "{warning:?}"
    );

    // Commands and a new session still work on the full disk.
    let done = d.exec(run_request("echo still-$((6*7))")).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&done.stdout), "still-42\n");
    let second = open(&d).await;
    assert!(second.running, "{second:?}");
    let (out, _) = run(
        &d,
        &second.session_id,
        "echo second-$((6*7))\n",
        "second-42",
    )
    .await;
    assert!(out.contains("second-42"), "{out:?}");
    let (out, snap) = run(&d, &first.session_id, "echo first-$((6*7))\n", "first-42").await;
    assert!(out.contains("first-42") && snap.running, "{out:?} {snap:?}");

    let status = d.status().await;
    assert!(status.pid > 0);
    assert!(!d.log().contains("panicked"), "{}", d.log());
    drop(d);
}
