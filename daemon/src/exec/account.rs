//! The account phase: the outcome of an attempt from how it ended, its exit status and output.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::pid_slot::PidSlot;
use super::stop::StopReason;
use super::{Counters, ExecOutcome, ExecSpec};
use crate::connection::capture::Captured;
use crate::connection::masters::Lease;
use crate::outputs::StreamKept;

/// How the command ended, as the watch and stop phases saw it.
pub(super) struct Ended {
    pub stopped: Option<StopReason>,
    pub exit: Option<u32>,
    pub kill_signal: Option<i32>,
    pub stdout: Captured,
    pub stderr: Captured,
    pub kept: Option<(String, [StreamKept; 2])>,
}

pub(super) fn outcome(
    spec: &ExecSpec,
    lease: &Lease,
    counters: &Counters,
    pid: &PidSlot,
    ended: Ended,
    started: Instant,
) -> ExecOutcome {
    let Ended {
        stopped,
        exit,
        kill_signal,
        stdout,
        stderr,
        kept,
    } = ended;
    counters.stdout_bytes.store(stdout.total, Ordering::Relaxed);
    counters.stderr_bytes.store(stderr.total, Ordering::Relaxed);
    let exit_code = exit.map(|v| v as i32);
    let mut stderr = stderr;
    let (exit_code, signal, timed_out) = match (stopped, exit_code) {
        // The pid report is the first thing the remote command line does: a login shell that
        // exited without it ran nothing (it could not parse the line; fish then even exits 0).
        (None, Some(status)) if pid.get().is_none() => {
            stderr
                .bytes
                .extend_from_slice(not_started_note(status).as_bytes());
            (None, None, false)
        }
        // A channel that closed without an exit status: the command died of a signal or the
        // connection was lost; ssh itself reports 255 then, and so do we.
        (None, _) => (Some(exit_code.unwrap_or(255)), None, false),
        (Some(reason), _) => {
            tracing::info!(?reason, target = %spec.conn.target, "stopped a command");
            // The exit code is known when the command itself ended but its output was still
            // held open.
            (exit_code, kill_signal, reason == StopReason::Timeout)
        }
    };
    ExecOutcome {
        exit_code,
        signal,
        stdout,
        stderr,
        timed_out,
        duration: started.elapsed(),
        reused_connection: lease.reused,
        kept,
    }
}

/// What stderr gets when the remote login shell ended without starting the command.
fn not_started_note(status: i32) -> String {
    format!(
        "ssh-mcp: the command did not start: the remote login shell exited ({status}) before running \
         anything, most likely because it could not parse the command (its message is above). fish and \
         tcsh read a command in their own syntax; pass shell=\"sh\" to have sh run it.\n"
    )
}
