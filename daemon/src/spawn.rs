//! The only place that starts a local process. Each ssh is the daemon's child: stdin from
//! /dev/null, killed when its handle is dropped, in its own process group (a terminal's Ctrl-C
//! aimed at a foreground daemon must not hit it), and sent SIGTERM if the daemon dies without
//! cleaning up (PR_SET_PDEATHSIG).

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

/// Starts `argv` with stderr piped.
pub fn start(argv: &Argv, stdout: Stdout, auth_sock: Option<&Path>) -> Result<Child, DaemonError> {
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
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().map_err(|source| DaemonError::Spawn {
        program: argv.program.display().to_string(),
        source,
    })
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
