//! The daemon as the bench sees it from outside: its pid (`ssh-mcp daemon status`), stopping it
//! (`ssh-mcp daemon stop`, SIGTERM to the pid as a fallback), its peak RSS (VmHWM) and the CPU
//! time of a process.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};

use crate::env::BenchEnv;

/// `ssh-mcp daemon status` output, or None when no daemon answers.
pub fn status(env: &BenchEnv) -> anyhow::Result<Option<String>> {
    let mut cmd = Command::new(&env.shim);
    env.apply_std(&mut cmd);
    let out = cmd
        .args(["daemon", "status"])
        .stdin(Stdio::null())
        .output()
        .context("running ssh-mcp daemon status")?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// The value of one `ssh-mcp daemon status` line (e.g. "pid", "masters").
pub fn status_line(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
}

/// The pid of the daemon serving the bench's socket, if one answers.
pub fn pid(env: &BenchEnv) -> anyhow::Result<Option<u32>> {
    let Some(text) = status(env)? else {
        return Ok(None);
    };
    let pid = status_line(&text, "pid")
        .map(|v| v.parse::<u32>())
        .transpose()
        .with_context(|| format!("unexpected `ssh-mcp daemon status` output: {text}"))?;
    Ok(pid)
}

/// Stops the daemon, if one runs: `ssh-mcp daemon stop`, then SIGTERM and SIGKILL if needed.
pub fn stop(env: &BenchEnv) -> anyhow::Result<()> {
    let Some(pid) = pid(env)? else {
        return Ok(());
    };
    let mut cmd = Command::new(&env.shim);
    env.apply_std(&mut cmd);
    let out = cmd
        .args(["daemon", "stop"])
        .stdin(Stdio::null())
        .output()
        .context("running ssh-mcp daemon stop")?;
    if out.status.success() && !alive(pid) {
        return Ok(());
    }
    eprintln!(
        "bench: `ssh-mcp daemon stop` did not stop pid {pid} ({}); sending SIGTERM",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    for (signal, wait) in [
        (libc::SIGTERM, Duration::from_secs(5)),
        (libc::SIGKILL, Duration::from_secs(2)),
    ] {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe {
            libc::kill(pid as libc::pid_t, signal);
        }
        let deadline = Instant::now() + wait;
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if !alive(pid) {
            return Ok(());
        }
    }
    Err(anyhow!("ssh-mcpd pid {pid} survived SIGKILL"))
}

fn alive(pid: u32) -> bool {
    // A zombie still answers kill(0); /proc says whether it is really running.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// A field of /proc/<pid>/status in kB (e.g. "VmHWM", "VmRSS").
pub fn status_kb(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow!("no {field} in /proc/{pid}/status"))
}

/// CPU time (user + system) a process has used so far, from /proc/<pid>/stat.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let tick = |i: usize| -> anyhow::Result<f64> {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| anyhow!("unexpected /proc/{pid}/stat: {stat}"))
    };
    // utime and stime are fields 14 and 15: indices 11 and 12 after the name.
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok((tick(11)? + tick(12)?) / hz)
}

/// Stops the daemon when dropped (also when the bench fails half-way).
pub struct StopOnDrop<'a>(pub &'a BenchEnv);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        if let Err(e) = stop(self.0) {
            eprintln!("bench: stopping the daemon: {e:#}");
        }
    }
}
