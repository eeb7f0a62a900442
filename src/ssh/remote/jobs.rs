//! Background jobs on the host: the scripts that start one detached from everything ssh-mcp
//! holds, read its output, and end it. A job lives in `<cache>/ssh-mcp/jobs/<job id>/` on the
//! host (`$XDG_CACHE_HOME`, else `~/.cache`; created 0700): `stdout` and `stderr` are its output,
//! `pgid` its process group, and `status` appears when it has ended (its exit status, or
//! `stopped <signal>` when ssh_stop_job ended it).
//!
//! The job runs under a monitor that `setsid` made the leader of a new session and process
//! group, with its stdio on those files: no terminal, no channel and no ssh process of ours is
//! tied to it, so it outlives the client, the daemon and the connection. The monitor waits for
//! the command and writes `status` (through a rename, so a reader never sees half of it).
//!
//! Every script is POSIX sh and reaches sh through the exec path (`exec::script_spec`), whatever
//! the login shell; the user's command itself is read by the login shell (`$SHELL -c`), as
//! `ssh_exec` reads a bare command, or by sh when `cwd`, `env` or `shell` wrapped it.

use super::quote::sh_quote;
use super::scripts::RemoteCommand;

/// The prefix of every job id.
pub const JOB_ID_PREFIX: &str = "job-";

/// Where jobs live on the host, as sh expands it.
const JOBS_DIR: &str = "${XDG_CACHE_HOME:-$HOME/.cache}/ssh-mcp/jobs";

/// A job id: `job-` and 16 hex digits (it names a directory on the host, so nothing else).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(String);

impl JobId {
    pub fn parse(s: &str) -> Option<Self> {
        let hex = s.strip_prefix(JOB_ID_PREFIX)?;
        (hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The command as the job runs it: the login shell reads a bare command; sh a wrapped one.
fn job_command(command: &RemoteCommand) -> String {
    match command {
        RemoteCommand::Bare(c) => format!("exec \"${{SHELL:-/bin/sh}}\" -c {}", sh_quote(c)),
        RemoteCommand::InSh(script) => format!("exec sh -c {}", sh_quote(script)),
    }
}

/// Starts job `id` running `command`, and prints `<pgid> <directory>` once the job's monitor has
/// started it. Ended jobs whose `status` is older than `keep_days` are removed on the way.
pub fn start_script(id: &JobId, command: &RemoteCommand, keep_days: u32) -> String {
    let monitor = format!(
        "d=$1; echo $$ > \"$d/pgid.tmp\" && mv \"$d/pgid.tmp\" \"$d/pgid\"; \
         ({run}) </dev/null >\"$d/stdout\" 2>\"$d/stderr\" & \
         wait $!; s=$?; echo $s > \"$d/status.tmp\" && mv -f \"$d/status.tmp\" \"$d/status\"",
        run = job_command(command)
    );
    format!(
        "command -v setsid >/dev/null 2>&1 || {{ echo 'ssh-mcp: background jobs need setsid on the host (util-linux)' >&2; exit 127; }}; \
         umask 077; b=\"{JOBS_DIR}\"; d=\"$b/{id}\"; \
         mkdir -p \"$b\" && mkdir \"$d\" || exit 1; \
         for j in \"$b\"/job-*; do [ -f \"$j/status\" ] && [ -n \"$(find \"$j/status\" -mtime +{keep_days} 2>/dev/null)\" ] && rm -rf \"$j\"; done; \
         setsid sh -c {monitor} ssh-mcp-job \"$d\" </dev/null >/dev/null 2>&1 & \
         i=0; while [ ! -s \"$d/pgid\" ] && [ $i -lt 100 ]; do sleep 0.05 2>/dev/null || sleep 1; i=$((i+1)); done; \
         [ -s \"$d/pgid\" ] || {{ echo 'ssh-mcp: the job did not start' >&2; exit 1; }}; \
         printf '%s %s\\n' \"$(cat \"$d/pgid\")\" \"$d\"",
        id = id.as_str(),
        monitor = sh_quote(&monitor),
    )
}

/// Parses what [`start_script`] printed for job `id`: its process group and its directory.
pub fn parse_started(stdout: &str, id: &JobId) -> Option<(u32, String)> {
    let line = stdout.lines().next_back()?;
    let (pgid, dir) = line.split_once(' ')?;
    let dir = dir.trim_end();
    let named = dir.starts_with('/') && dir.ends_with(&format!("/{}", id.as_str()));
    Some((pgid.parse().ok().filter(|p| *p > 1)?, dir.to_owned())).filter(|_| named)
}

/// The header [`read_script`] prints on stderr before the page (on stdout).
pub const READ_HEADER: &str = "ssh-mcp-job";

/// Reads up to `len` bytes of `stream` (`stdout` or `stderr`) of the job in `dir` from `offset`,
/// after waiting up to `wait_tenths` tenths of a second for more output or the end. Prints on
/// stderr `ssh-mcp-job <stdout size> <stderr size> <alive> <status…>` (whether the job's group
/// still has a process, its status line or nothing), and the page on stdout. The status is read
/// before the sizes, so a job that had ended then has its whole output counted.
pub fn read_script(
    dir: &str,
    pgid: u32,
    stream: &str,
    offset: u64,
    len: u64,
    wait_tenths: u32,
) -> String {
    let d = sh_quote(dir);
    let f = format!("{d}/{stream}");
    format!(
        "size() {{ n=$(wc -c < \"$1\" 2>/dev/null) || n=0; echo $((n+0)); }}; i=0; \
         while :; do st=$(cat {d}/status 2>/dev/null); n=$(size {f}); \
         if [ -n \"$st\" ] || [ $n -gt {offset} ] || [ $i -ge {wait_tenths} ]; then break; fi; \
         sleep 0.1 2>/dev/null || sleep 1; i=$((i+1)); done; \
         if kill -s 0 -- -{pgid} 2>/dev/null; then a=1; else a=0; fi; \
         printf '{READ_HEADER} %s %s %s %s\\n' $(size {d}/stdout) $(size {d}/stderr) \"$a\" \"$st\" >&2; \
         [ $n -gt {offset} ] && tail -c +{start} {f} | head -c {len}; exit 0",
        start = offset + 1,
    )
}

/// What [`read_script`] said about the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadHeader {
    /// The sizes of stdout and stderr on the host.
    pub sizes: [u64; 2],
    /// The job's process group still has a process.
    pub alive: bool,
    /// The `status` file's line, when the job has ended.
    pub status: Option<String>,
}

pub fn parse_read_header(stderr: &str) -> Option<ReadHeader> {
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix(READ_HEADER).map(str::trim))?;
    let mut words = line.splitn(4, ' ');
    let out = words.next()?.parse().ok()?;
    let err = words.next()?.parse().ok()?;
    let alive = words.next()? == "1";
    let status = words
        .next()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    Some(ReadHeader {
        sizes: [out, err],
        alive,
        status,
    })
}

/// How a job ended, from its `status` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEnd {
    Exited(i32),
    Stopped(i32),
}

pub fn parse_status(status: &str) -> Option<JobEnd> {
    let status = status.trim();
    match status.strip_prefix("stopped ") {
        Some(sig) => sig.parse().ok().map(JobEnd::Stopped),
        None => status.parse().ok().map(JobEnd::Exited),
    }
}

/// Ends the job in `dir` (process group `pgid`): SIGTERM, up to `grace_tenths` tenths of a
/// second, then SIGKILL (and up to 2 s for the kernel to take the processes away); writes
/// `stopped <signal>` as its status unless it had ended already.
/// Prints `<signal>` (15 or 9) or `ended` when nothing was running.
pub fn stop_script(dir: &str, pgid: u32, grace_tenths: u32) -> String {
    let d = sh_quote(dir);
    format!(
        "alive() {{ kill -s 0 -- -{pgid} 2>/dev/null; }}; \
         if [ -f {d}/status ] || ! alive; then echo ended; exit 0; fi; \
         kill -s TERM -- -{pgid} 2>/dev/null; s=15; i=0; \
         while alive && [ $i -lt {grace_tenths} ]; do sleep 0.1 2>/dev/null || sleep 1; i=$((i+1)); done; \
         if alive; then kill -s KILL -- -{pgid} 2>/dev/null; s=9; fi; \
         i=0; while alive && [ $i -lt 20 ]; do sleep 0.1 2>/dev/null || sleep 1; i=$((i+1)); done; \
         echo \"stopped $s\" > {d}/status.tmp && mv -f {d}/status.tmp {d}/status; echo $s"
    )
}

/// Removes the job's directory on the host (it has ended and its output was read to the end).
pub fn remove_script(dir: &str) -> String {
    format!("rm -rf {}", sh_quote(dir))
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "the tests run the scripts in a real sh"
)]
mod tests;
