//! The only place that starts a local process. Each ssh is the daemon's child: stdin from
//! /dev/null, killed when its handle is dropped, and in its own process group (a terminal's Ctrl-C
//! aimed at a foreground daemon must not hit it). A ControlMaster is also sent SIGTERM if the
//! daemon dies without cleaning up (PR_SET_PDEATHSIG); a command's ssh needs no such hook, since
//! it ends with its master, and without a `pre_exec` hook it can be started with the cheaper
//! posix_spawn instead of fork.

#![allow(
    clippy::disallowed_methods,
    reason = "this module is where processes are spawned"
)]

use std::path::Path;
use std::process::Stdio;

use ssh_mcp_core::ssh::argv::Argv;
use tokio::process::{Child, Command};

use crate::error::DaemonError;

/// Where the child's stdout goes.
#[derive(Debug, Clone, Copy)]
pub enum Stdout {
    Piped,
    Null,
}

/// Starts a command's ssh (or any short-lived helper) with stderr piped.
pub fn command(
    argv: &Argv,
    stdout: Stdout,
    auth_sock: Option<&Path>,
) -> Result<Child, DaemonError> {
    build(argv, stdout, auth_sock)
        .spawn()
        .map_err(|source| spawn_error(argv, source))
}

/// Starts a ControlMaster with stderr piped; it gets SIGTERM if the daemon dies.
pub fn master(argv: &Argv, auth_sock: Option<&Path>) -> Result<Child, DaemonError> {
    spawn_dying_with_daemon(argv, build(argv, Stdout::Null, auth_sock))
}

/// Starts scp or rsync for a transfer: stdout and stderr piped, stdin on /dev/null, in its own
/// process group (which its ssh joins, so [`signal_group`] reaches both), and SIGTERM if the
/// daemon dies.
pub fn transfer(argv: &Argv, auth_sock: Option<&Path>) -> Result<Child, DaemonError> {
    spawn_dying_with_daemon(argv, build(argv, Stdout::Piped, auth_sock))
}

/// Starts `cmd` (built from `argv`) so that it gets SIGTERM if the daemon dies.
fn spawn_dying_with_daemon(argv: &Argv, mut cmd: Command) -> Result<Child, DaemonError> {
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent. The death signal
    // is tied to the spawning thread; tokio's worker threads live as long as the runtime.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().map_err(|source| spawn_error(argv, source))
}

/// Sends `signal` to the process group led by `child` (started by [`transfer`] or [`command`],
/// whose group id is its pid), while the child is not reaped.
pub fn signal_group(child: &Child, signal: libc::c_int) {
    if let Some(pid) = child.id() {
        // SAFETY: kill has no memory-safety preconditions; the group is our unreaped child's.
        unsafe {
            libc::kill(-(pid as libc::pid_t), signal);
        }
    }
}

/// Starts an ssh on a terminal: `pts` becomes its stdin, stdout, stderr and controlling terminal
/// (a new session), so that ssh can prompt on it and read the answer with echo off. It gets
/// SIGTERM if the daemon dies, as a master does.
pub fn on_terminal(
    argv: &Argv,
    pts: std::os::fd::BorrowedFd<'_>,
    auth_sock: Option<&Path>,
) -> Result<Child, DaemonError> {
    let io = |fd: std::os::fd::BorrowedFd<'_>| {
        fd.try_clone_to_owned()
            .map(Stdio::from)
            .map_err(|source| spawn_error(argv, source))
    };
    let mut cmd = Command::new(&argv.program);
    cmd.args(&argv.args)
        .stdin(io(pts)?)
        .stdout(io(pts)?)
        .stderr(io(pts)?)
        .kill_on_drop(true);
    if let Some(sock) = auth_sock {
        cmd.env("SSH_AUTH_SOCK", sock);
    }
    // SAFETY: setsid, ioctl and prctl are async-signal-safe and touch no memory of the parent;
    // after setsid the child has no controlling terminal, and TIOCSCTTY makes its stdin (the
    // session's terminal) that terminal.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0
                || libc::ioctl(0, libc::TIOCSCTTY, 0) != 0
                || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().map_err(|source| spawn_error(argv, source))
}

fn spawn_error(argv: &Argv, source: std::io::Error) -> DaemonError {
    DaemonError::Spawn {
        program: argv.program.display().to_string(),
        source,
    }
}

fn build(argv: &Argv, stdout: Stdout, auth_sock: Option<&Path>) -> Command {
    let mut cmd = Command::new(&argv.program);
    cmd.args(&argv.args)
        .stdin(Stdio::null())
        .stdout(match stdout {
            Stdout::Piped => Stdio::piped(),
            Stdout::Null => Stdio::null(),
        })
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    if let Some(sock) = auth_sock {
        cmd.env("SSH_AUTH_SOCK", sock);
    }
    cmd
}

/// Sends `signal` to a child that has not been reaped yet.
pub fn signal(child: &Child, signal: libc::c_int) {
    if let Some(pid) = child.id() {
        // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child.
        unsafe {
            libc::kill(pid as libc::pid_t, signal);
        }
    }
}

/// Runs a short helper program (tmux for observers) to completion, with stdin on /dev/null and
/// its output captured; it is killed if it takes longer than `limit`.
pub async fn run_helper(
    program: &Path,
    args: &[std::ffi::OsString],
    limit: std::time::Duration,
) -> Result<std::process::Output, DaemonError> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let failed = |source| DaemonError::Spawn {
        program: program.display().to_string(),
        source,
    };
    let child = cmd.spawn().map_err(failed)?;
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(out) => out.map_err(failed),
        Err(_) => Err(failed(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "timed out",
        ))),
    }
}
