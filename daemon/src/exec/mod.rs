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
use crate::outputs::spill::OutputSink;
use crate::outputs::{OutputStore, StreamKept};
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
    /// The characters the result may show (0: the default).
    pub result_chars: u32,
}

/// The characters a result may show when the request does not say: what clients show a model
/// whole (the shim fits the result into it).
pub const DEFAULT_RESULT_CHARS: u32 = 50_000;
/// The budgets a request may ask for.
pub const RESULT_CHARS_RANGE: std::ops::RangeInclusive<u32> = 2_000..=1_000_000;

/// How a command's whole output is kept beyond its result, for `ssh_read_output` (`outputs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keep {
    /// A stream longer than this goes to a file (shorter ones fit any result whole, even with
    /// every byte escaped).
    pub spill_from: usize,
    /// The most bytes kept of each stream.
    pub limit: u64,
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
    /// Bytes of each stream held in memory for the result (head and tail).
    pub max_output: usize,
    /// The whole output kept on disk; `None` for ssh-mcp's own scripts.
    pub keep: Option<Keep>,
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
        let limit = match raw.max_output_bytes {
            0 => DEFAULT_MAX_OUTPUT_BYTES,
            n if (64..=MAX_OUTPUT_BYTES_LIMIT).contains(&n) => n,
            n => {
                return Err(InvalidInput(format!(
                    "'max_output_bytes' must be between 64 and {MAX_OUTPUT_BYTES_LIMIT} (got {n})"
                )));
            }
        };
        let result_chars = match raw.result_chars {
            0 => DEFAULT_RESULT_CHARS,
            n if RESULT_CHARS_RANGE.contains(&n) => n,
            n => {
                return Err(InvalidInput(format!(
                    "'max_result_chars' must be between {} and {} (got {n})",
                    RESULT_CHARS_RANGE.start(),
                    RESULT_CHARS_RANGE.end()
                )));
            }
        } as usize;
        // Head and tail of each stream, as many bytes as the result has characters: enough for
        // any text (a character is at least one byte), and bounded whatever the command prints.
        let max_output = (2 * result_chars).min(limit as usize);
        let keep = Keep {
            // Two streams of this size fit the result even if every byte takes six characters.
            spill_from: (result_chars / 12).max(1024),
            limit,
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
            keep: Some(keep),
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
        keep: None,
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
    /// The whole output, when it was kept on disk: its id and what was kept of each stream.
    pub kept: Option<(String, [StreamKept; 2])>,
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
    let sink = spec.keep.map(|keep| {
        Arc::new(OutputSink::new(
            daemon.outputs.clone(),
            OutputStore::new_id(),
            keep.spill_from,
            keep.limit,
        ))
    });
    let mut opener = Attempts {
        daemon,
        spec,
        counters,
        stop,
        started,
        sink,
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
    /// Where the whole output goes, when it is kept.
    sink: Option<Arc<OutputSink>>,
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
            self.daemon,
            spec,
            &lease,
            self.counters,
            &mut self.stop,
            self.started,
            self.sink.as_ref(),
        )
        .await?
        {
            Attempt::Done(outcome) => Ok(Tried::Done(*outcome)),
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
                cut_at: None,
            },
            timed_out: true,
            duration: started.elapsed(),
            reused_connection: false,
            kept: None,
        }),
    }
}
