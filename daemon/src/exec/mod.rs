//! One remote command, from request to outcome: validate ([`ExecSpec::parse`]), lease a channel on
//! a ControlMaster, run `ssh` over it with the pid report, capture bounded output, and on a
//! timeout, a cancellation or shutdown end the remote process group (SIGTERM, then SIGKILL after
//! the grace) before ending the local ssh.
//!
//! [`run`] takes a lease and makes attempts until one opens a session; each attempt
//! (`attempt.rs`) goes through named phases, one file each: `prepare`, `open`, `watch` (with
//! `readers` and `pid_slot`), `end_remote` and `account`. [`late_session`] ends commands whose
//! session opened after their call stopped; [`stop`] says why a command or a transfer stops early.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ssh_mcp_core::ssh::InvalidInput;
use ssh_mcp_core::ssh::options::connection::Connection;
use ssh_mcp_core::ssh::remote::quote::{EnvVar, RemoteDir, RemoteShell};
use ssh_mcp_core::ssh::remote::scripts::{self, RemoteCommand};
use tokio_util::sync::CancellationToken;

use crate::config::{DEFAULT_MAX_OUTPUT_BYTES, MAX_OUTPUT_BYTES_LIMIT};
use crate::connection::capture::Captured;
use crate::connection::pid_report::NONCE_BYTES;
use crate::connection::retry::{ChannelOpener, Tried, open_with_retries};
use crate::door::Common;
use crate::error::DaemonError;
use crate::state::Daemon;
use attempt::Attempt;
use stop::StopReason;

mod account;
mod attempt;
mod end_remote;
pub mod late_session;
mod open;
mod pid_slot;
mod prepare;
mod readers;
pub mod stop;
mod watch;

/// The longest remote command sent, wrapper and pid report included: sshd hands it to the login
/// shell as one argument, and Linux takes at most 128 KiB per argument, its NUL included.
const MAX_REMOTE_COMMAND_BYTES: usize = 128 * 1024 - 1;
/// Attempts when sshd refuses a session on a master we counted as free.
const MAX_SESSION_ATTEMPTS: u32 = 20;

/// An exec request as the agent sent it (plain fields, no wire types).
#[derive(Debug, Clone, Default)]
pub struct RawExec {
    pub command: String,
    pub cwd: Option<String>,
    pub env: Vec<(String, String)>,
    pub shell: Option<String>,
    pub tty: bool,
    pub max_output_bytes: u64,
}

/// A validated exec request.
#[derive(Debug, Clone)]
pub struct ExecSpec {
    pub conn: Connection,
    pub auth_sock: Option<PathBuf>,
    /// The command as the agent wrote it (echoed in the result).
    pub command: String,
    /// What the remote shell runs: the command, wrapped when shell, cwd or env is given.
    pub remote_command: RemoteCommand,
    pub tty: bool,
    pub timeout: Option<Duration>,
    pub max_output: usize,
}

impl ExecSpec {
    pub fn parse(common: Common, raw: RawExec) -> Result<Self, InvalidInput> {
        if raw.command.trim().is_empty() {
            return Err(InvalidInput::new("'command' must be a non-empty string"));
        }
        if raw.command.contains('\0') {
            return Err(InvalidInput::new("'command' cannot contain NUL bytes"));
        }
        let cwd = raw.cwd.as_deref().map(RemoteDir::parse).transpose()?;
        let shell = raw.shell.as_deref().map(RemoteShell::parse).transpose()?;
        let env = raw
            .env
            .iter()
            .map(|(k, v)| EnvVar::parse(k, v))
            .collect::<Result<Vec<_>, _>>()?;
        let max_output = match raw.max_output_bytes {
            0 => DEFAULT_MAX_OUTPUT_BYTES,
            n if n as usize <= MAX_OUTPUT_BYTES_LIMIT && n >= 64 => n as usize,
            n => {
                return Err(InvalidInput(format!(
                    "'max_output_bytes' must be between 64 and {MAX_OUTPUT_BYTES_LIMIT} (got {n})"
                )));
            }
        };
        let remote_command =
            scripts::wrap_command(&raw.command, shell.as_ref(), cwd.as_ref(), &env);
        // With cwd, env or shell, quotes, `$`, `%`, newlines and non-ASCII bytes are sent as
        // four-byte escapes, so such a command takes more room.
        let sent = remote_command
            .with_pid_report(&"0".repeat(2 * NONCE_BYTES))
            .len();
        if sent > MAX_REMOTE_COMMAND_BYTES {
            return Err(InvalidInput(format!(
                "'command' (with its cwd, env and shell, as sent to the remote shell) is {sent} bytes; \
                 at most {MAX_REMOTE_COMMAND_BYTES} fit in one remote command: put a long script in a \
                 file (ssh_create) and run that"
            )));
        }
        Ok(Self {
            conn: common.conn,
            auth_sock: common.auth_sock,
            command: raw.command,
            remote_command,
            tty: raw.tty,
            timeout: common.timeout,
            max_output,
        })
    }
}

/// A spec for a POSIX sh script that ssh-mcp itself runs on the host (a file tool's helper, such
/// as grep). The script reaches sh unchanged whatever the account's login shell is, and every
/// agent value in it must already be quoted (`ssh_mcp_core::ssh::remote::quote::sh_quote`).
pub fn script_spec(
    conn: Connection,
    auth_sock: Option<PathBuf>,
    script: String,
    timeout: Option<Duration>,
    max_output: usize,
) -> ExecSpec {
    ExecSpec {
        conn,
        auth_sock,
        remote_command: RemoteCommand::InSh(script.clone()),
        command: script,
        tty: false,
        timeout,
        max_output,
    }
}

/// What the command is doing, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    Connecting = 0,
    Running = 1,
    Stopping = 2,
}

/// Live counters of one command, read by the progress reporter while it runs.
#[derive(Debug, Default)]
pub struct Counters {
    /// Written by the stdout reader task as bytes arrive.
    pub stdout_bytes: Arc<AtomicU64>,
    /// Written by the stderr reader task as bytes arrive.
    pub stderr_bytes: Arc<AtomicU64>,
    phase: AtomicU8,
}

impl Counters {
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Connecting,
            1 => Phase::Running,
            _ => Phase::Stopping,
        }
    }

    fn set_phase(&self, p: Phase) {
        self.phase.store(p as u8, Ordering::Relaxed);
    }
}

/// The result of a command that ran (or was stopped).
#[derive(Debug, Clone)]
pub struct ExecOutcome {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: Captured,
    pub stderr: Captured,
    pub timed_out: bool,
    pub duration: Duration,
    pub reused_connection: bool,
}

/// Runs `spec` to completion, or until the timeout, `cancel` or daemon shutdown stops it.
pub async fn run(
    daemon: &Daemon,
    spec: &ExecSpec,
    counters: &Counters,
    cancel: &CancellationToken,
) -> Result<ExecOutcome, DaemonError> {
    let started = Instant::now();
    let stop = stop::first_reason(daemon, cancel, started, spec.timeout);
    tokio::pin!(stop);
    let mut opener = Attempts {
        daemon,
        spec,
        counters,
        stop,
        started,
    };
    open_with_retries(MAX_SESSION_ATTEMPTS, &mut opener, |why| {
        DaemonError::Connect {
            target: spec.conn.target.to_string(),
            detail: format!("no session could be opened on its connections ({why})"),
            hint: "Check MaxSessions in the server's sshd_config",
        }
    })
    .await
}

/// Attempts at running one command: each takes a lease (unless the call stops first) and runs
/// the command on it ([`attempt::run_once`]).
struct Attempts<'a, S> {
    daemon: &'a Daemon,
    spec: &'a ExecSpec,
    counters: &'a Counters,
    stop: std::pin::Pin<&'a mut S>,
    started: Instant,
}

impl<S: Future<Output = StopReason> + Send> ChannelOpener for Attempts<'_, S> {
    type Opened = ExecOutcome;

    async fn try_once(&mut self) -> Result<Tried<ExecOutcome>, DaemonError> {
        let spec = self.spec;
        self.counters.set_phase(Phase::Connecting);
        let lease = tokio::select! {
            lease = self.daemon.masters.acquire(&spec.conn, spec.auth_sock.as_deref()) => lease?,
            reason = &mut self.stop => {
                return stopped_before_start(reason, self.started).map(Tried::Done);
            }
        };
        self.counters.set_phase(Phase::Running);
        match attempt::run_once(
            &self.daemon.shutdown.commands,
            &self.daemon.journal,
            spec,
            &lease,
            self.counters,
            &mut self.stop,
            self.started,
        )
        .await?
        {
            Attempt::Done(outcome) => Ok(Tried::Done(outcome)),
            Attempt::Retry(why) => Ok(Tried::Refused { lease, why }),
        }
    }
}

fn stopped_before_start(reason: StopReason, started: Instant) -> Result<ExecOutcome, DaemonError> {
    match reason {
        StopReason::Cancelled => Err(DaemonError::Cancelled),
        StopReason::Shutdown => Err(DaemonError::ShuttingDown),
        StopReason::Timeout => Ok(ExecOutcome {
            exit_code: None,
            signal: None,
            stdout: Captured::default(),
            stderr: Captured {
                bytes: b"ssh-mcp: timed out while connecting\n".to_vec(),
                truncated: false,
                total: 0,
            },
            timed_out: true,
            duration: started.elapsed(),
            reused_connection: false,
        }),
    }
}
