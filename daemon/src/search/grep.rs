//! ssh_grep, from a validated [`GrepSpec`] to its outcome: the grep script runs on the host
//! through the exec path (`exec::script_spec`, so any login shell will do), and its output is
//! read back here: records parsed exactly, a path glob applied (as a job on the blocking pool,
//! `offload.rs`, within the call's timeout), `head_limit` enforced, and the files grep could not
//! read kept beside the matches instead of failing the whole search.
//!
//! Why grep on the host rather than reading the files over SFTP: over a 10,000-file tree (2 KiB
//! each, loopback, two bench runs on a busy machine) ssh_grep answered in 46–80 ms (medians),
//! while merely reading the same files over SFTP took 7.0–8.3 s (OpenSSH's `sftp get -r`, many
//! reads in flight): 100–150 times longer, before any matching. Only the matches cross the wire.
//! (BENCHMARKS.md, section 8.)

use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::grep_output::{self, FileError, Flavor, Record};
use super::grep_script::{self, MISSING_PATH_EXIT};
use super::grep_spec::GrepSpec;
use super::offload::{self, OffloadError};
use crate::connection::capture::Captured;
use crate::error::DaemonError;
use crate::exec::{self, Counters};
use crate::state::Daemon;

/// The most output bytes read from the host; the script stops sending past it.
pub const OUTPUT_CAP: usize = 1024 * 1024;
/// The most unreadable files named in a result (one more entry says how many were left out).
const MAX_ERRORS: usize = 100;

/// What a search found.
#[derive(Debug)]
pub struct GrepOutcome {
    pub records: Vec<Record>,
    /// More records existed than `head_limit` let through, or the cap cut them.
    pub truncated: bool,
    pub output_capped: bool,
    pub flavor: Flavor,
    pub errors: Vec<FileError>,
}

/// Runs the search of `spec`; `cancel` stops it (the remote grep is ended).
pub async fn run(
    daemon: &Daemon,
    spec: &GrepSpec,
    cancel: &CancellationToken,
) -> Result<GrepOutcome, DaemonError> {
    let deadline = spec.timeout.map(|t| Instant::now() + t);
    let script = grep_script::script(spec, OUTPUT_CAP);
    // Room past the cap: the script cuts stdout itself; stderr holds one line per unreadable file.
    let max_output = OUTPUT_CAP + 64 * 1024;
    let exec_spec = exec::script_spec(
        spec.conn.clone(),
        spec.auth_sock.clone(),
        script,
        spec.timeout,
        max_output,
    );
    let outcome = exec::run(daemon, &exec_spec, &Counters::default(), cancel).await?;
    let path = &spec.path;
    let timed_out = || DaemonError::RemoteFile(format!("Remote search under '{path}' timed out."));
    if outcome.timed_out {
        return Err(timed_out());
    }
    match outcome.exit_code {
        Some(0) => {}
        Some(MISSING_PATH_EXIT) => {
            return Err(DaemonError::RemoteFile(format!(
                "Remote path does not exist: {path}"
            )));
        }
        code => return Err(failed(path, &outcome.stderr, code)),
    }
    let mut report = grep_output::parse_stderr(&outcome.stderr.bytes, path);
    if grep_script::record_limit(spec).is_some() {
        // The limit closed grep's output early; where SIGPIPE is ignored grep says so.
        report.other.retain(|m| !m.starts_with("write error"));
    }
    let (stdout, output_capped) = kept_stdout(outcome.stdout, max_output);
    let parsed = grep_output::parse_stdout(spec.mode, &stdout, path);
    let mut records = parsed.records;
    if let Some(glob) = spec.filter.as_ref().and_then(|f| f.paths.clone()) {
        let base = path.clone();
        records = offload::run(daemon, deadline, move |stop| {
            records
                .into_iter()
                .take_while(|_| !stop.is_cancelled())
                .filter(|r| glob.matches(relative(r.path(), &base)))
                .collect()
        })
        .await
        .map_err(|e| match e {
            OffloadError::DeadlinePassed => timed_out(),
            OffloadError::ShuttingDown => DaemonError::ShuttingDown,
            OffloadError::Failed(why) => DaemonError::Internal(why),
        })?;
    }
    // grep exits 2 when anything went wrong. With no match at all and a message that names no
    // file (a bad pattern), the search failed; otherwise what it found stands. (Exit 0 or 1 with
    // a message is a warning, such as GNU grep's "stray \".)
    let warned = matches!(report.status, Some(0 | 1));
    if records.is_empty() && !report.other.is_empty() && report.errors.is_empty() && !warned {
        return Err(DaemonError::RemoteFile(format!(
            "Remote search under '{path}' failed: {}",
            report.other.join("\n")
        )));
    }
    let mut truncated = parsed.cut || output_capped;
    if let Some(limit) = spec.head_limit
        && records.len() > limit
    {
        records.truncate(limit);
        truncated = true;
    }
    let mut errors = report.errors;
    errors.extend(report.other.into_iter().map(|message| FileError {
        path: path.clone(),
        message,
    }));
    if errors.len() > MAX_ERRORS {
        let more = errors.len() - MAX_ERRORS;
        errors.truncate(MAX_ERRORS);
        errors.push(FileError {
            path: path.clone(),
            message: format!("{more} more files could not be read"),
        });
    }
    Ok(GrepOutcome {
        records,
        truncated,
        output_capped,
        flavor: report.flavor.unwrap_or(Flavor::Extended),
        errors,
    })
}

/// The seed's message for a script that failed before grep could answer.
fn failed(path: &str, stderr: &Captured, code: Option<i32>) -> DaemonError {
    let text = String::from_utf8_lossy(&stderr.bytes);
    let text = text.trim();
    let detail = match code {
        _ if !text.is_empty() => text.to_owned(),
        Some(c) => format!("grep exited with code {c}."),
        None => "the remote command did not report an exit status.".to_owned(),
    };
    DaemonError::RemoteFile(format!("Remote search under '{path}' failed: {detail}"))
}

/// stdout up to the cap, and whether the cap was reached. The script cuts stdout at one byte past
/// the cap; on a host whose `head` cannot count bytes the capture cut it instead, keeping its
/// first half whole.
fn kept_stdout(stdout: Captured, max_output: usize) -> (Vec<u8>, bool) {
    let mut bytes = stdout.bytes;
    if stdout.truncated {
        bytes.truncate(max_output / 2);
        return (bytes, true);
    }
    let capped = bytes.len() > OUTPUT_CAP;
    bytes.truncate(OUTPUT_CAP);
    (bytes, capped)
}

/// A result's path relative to the searched path, for matching a path glob: `./src/a.rs` under
/// `.` is `src/a.rs`; the searched path itself (a file) is its own name.
pub fn relative<'a>(found: &'a str, base: &str) -> &'a str {
    if found == base {
        return found.rsplit('/').next().unwrap_or(found);
    }
    match found.strip_prefix(base) {
        Some(rest) if base.ends_with('/') || rest.starts_with('/') => rest.trim_start_matches('/'),
        _ => found,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_for_the_path_glob() {
        assert_eq!(relative("./src/a.rs", "."), "src/a.rs");
        assert_eq!(relative("src/a.rs", "src"), "a.rs");
        assert_eq!(relative("src/a.rs", "src/"), "a.rs");
        assert_eq!(relative("src//a.rs", "src/"), "a.rs");
        assert_eq!(relative("/srv/x/a.rs", "/srv/x"), "a.rs");
        assert_eq!(relative("/srv/x/a.rs", "/srv/x/a.rs"), "a.rs");
        // A sibling sharing a prefix is not under the base.
        assert_eq!(relative("srcx/a.rs", "src"), "srcx/a.rs");
    }

    #[test]
    fn stdout_is_cut_at_the_cap_and_the_cut_is_reported() {
        let whole = Captured {
            bytes: vec![b'x'; OUTPUT_CAP + 1],
            truncated: false,
            total: (OUTPUT_CAP + 1) as u64,
            ..Captured::default()
        };
        let (bytes, capped) = kept_stdout(whole, OUTPUT_CAP * 2);
        assert_eq!((bytes.len(), capped), (OUTPUT_CAP, true));
        let small = Captured {
            bytes: b"a\0".to_vec(),
            truncated: false,
            total: 2,
            ..Captured::default()
        };
        assert_eq!(kept_stdout(small, 100), (b"a\0".to_vec(), false));
        let captured = Captured {
            bytes: vec![b'y'; 100],
            truncated: true,
            total: 10_000,
            ..Captured::default()
        };
        let (bytes, capped) = kept_stdout(captured, 100);
        assert_eq!((bytes.len(), capped), (50, true));
    }
}
