//! One remote command, from request to outcome: validate ([`ExecSpec::parse`]), lease a channel on
//! a ControlMaster, run `ssh` over it with the pid report, capture bounded output, and on a
//! timeout, a cancellation or shutdown end the remote process group (SIGTERM, then SIGKILL after
//! the grace) before ending the local ssh.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ssh_mcp_core::ssh::InvalidInput;
use ssh_mcp_core::ssh::connection::{Connection, RawConnection};
use ssh_mcp_core::ssh::quote::{EnvVar, RemoteDir, RemoteShell};
use ssh_mcp_core::ssh::remote::{self, RemoteCommand};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{DEFAULT_MAX_OUTPUT_BYTES, MAX_OUTPUT_BYTES_LIMIT};
use crate::connection::capture::{Capture, Captured};
use crate::connection::masters::Lease;
use crate::connection::mux_client;
use crate::connection::pid_report::PidReportFilter;
use crate::error::DaemonError;
use crate::journal::{self, Journal};
use crate::late_session;
use crate::state::Daemon;
use crate::stop::{self, StopReason};

/// The longest timeout a request may ask for (a week); beyond it, leave `timeout` out.
const MAX_TIMEOUT_SECS: f64 = 7.0 * 24.0 * 3600.0;
/// The longest remote command sent, wrapper and pid report included: sshd hands it to the login
/// shell as one argument, and Linux takes at most 128 KiB per argument, its NUL included.
const MAX_REMOTE_COMMAND_BYTES: usize = 128 * 1024 - 1;
/// Random bytes in a pid report's nonce (it is sent as twice as many hex digits).
const NONCE_BYTES: usize = 8;
/// Attempts when sshd refuses a session on a master we counted as free.
const MAX_SESSION_ATTEMPTS: u32 = 20;
/// How long a stopped command's local ssh gets to exit after its remote group is gone.
const LOCAL_EXIT_GRACE: Duration = Duration::from_secs(2);

/// An exec request as the agent sent it (plain fields, no wire types).
#[derive(Debug, Clone, Default)]
pub struct RawExec {
    pub connection: RawConnection,
    pub ssh_auth_sock: Option<String>,
    pub command: String,
    pub cwd: Option<String>,
    pub env: Vec<(String, String)>,
    pub shell: Option<String>,
    pub timeout_seconds: Option<f64>,
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
    pub fn parse(raw: RawExec, home: Option<&Path>) -> Result<Self, InvalidInput> {
        let conn = Connection::parse(&raw.connection, home)?;
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
        let timeout = match raw.timeout_seconds {
            None => None,
            Some(t) if t.is_finite() && t > 0.0 && t <= MAX_TIMEOUT_SECS => {
                Some(Duration::from_secs_f64(t))
            }
            Some(t) => {
                return Err(InvalidInput(format!(
                    "'timeout' must be a number of seconds above 0 and at most {MAX_TIMEOUT_SECS} (got {t}); leave it out for no limit"
                )));
            }
        };
        let max_output = match raw.max_output_bytes {
            0 => DEFAULT_MAX_OUTPUT_BYTES,
            n if n as usize <= MAX_OUTPUT_BYTES_LIMIT && n >= 64 => n as usize,
            n => {
                return Err(InvalidInput(format!(
                    "'max_output_bytes' must be between 64 and {MAX_OUTPUT_BYTES_LIMIT} (got {n})"
                )));
            }
        };
        let auth_sock = raw
            .ssh_auth_sock
            .filter(|s| !s.is_empty() && !s.contains('\0'))
            .map(PathBuf::from);
        let remote_command = remote::wrap_command(&raw.command, shell.as_ref(), cwd.as_ref(), &env);
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
            conn,
            auth_sock,
            command: raw.command,
            remote_command,
            tty: raw.tty,
            timeout,
            max_output,
        })
    }
}

/// A spec for a POSIX sh script that ssh-mcp itself runs on the host (a file tool's helper, such
/// as grep). The script reaches sh unchanged whatever the account's login shell is, and every
/// agent value in it must already be quoted (`ssh_mcp_core::ssh::quote::sh_quote`).
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
    let mut attempt = 0;
    loop {
        attempt += 1;
        counters.set_phase(Phase::Connecting);
        let lease = tokio::select! {
            lease = daemon.masters.acquire(&spec.conn, spec.auth_sock.as_deref()) => lease?,
            reason = &mut stop => return stopped_before_start(reason, started),
        };
        counters.set_phase(Phase::Running);
        match run_once(
            &daemon.shutdown.commands,
            &daemon.journal,
            spec,
            &lease,
            counters,
            &mut stop,
            started,
        )
        .await?
        {
            Attempt::Done(outcome) => return Ok(outcome),
            Attempt::Retry(why) if attempt < MAX_SESSION_ATTEMPTS => {
                tracing::debug!(attempt, %why, "retrying on another channel");
                if matches!(why, mux_client::OpenError::Refused(_)) {
                    lease.session_refused();
                }
                drop(lease);
                tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
            }
            Attempt::Retry(why) => {
                return Err(DaemonError::Connect {
                    target: spec.conn.target.to_string(),
                    detail: format!("no session could be opened on its connections ({why})"),
                    hint: "Check MaxSessions in the server's sshd_config",
                });
            }
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

enum Attempt {
    Done(ExecOutcome),
    /// No session was opened (sshd refused it, or the master went away): nothing ran.
    Retry(mux_client::OpenError),
}

async fn run_once(
    tracker: &TaskTracker,
    journal: &Journal,
    spec: &ExecSpec,
    lease: &Lease,
    counters: &Counters,
    stop: &mut (impl std::future::Future<Output = StopReason> + Unpin),
    started: Instant,
) -> Result<Attempt, DaemonError> {
    let nonce = nonce();
    // In the journal before the command can start, so that a daemon that dies from here on
    // leaves a record the next one ends the command by (`orphans`).
    let entry = journal.begin(
        journal::Kind::Command,
        &nonce,
        &spec.conn,
        spec.auth_sock.as_deref(),
    );
    let remote_command = spec.remote_command.with_pid_report(&nonce);
    // Opening waits for the server to confirm the channel; a stalled link must not hold the call
    // past its timeout or a cancellation. If the call stops first, the open goes on in the
    // background, which ends the command should the session open after all.
    let mut open: late_session::PendingOpen = {
        let (path, tty, command) = (lease.control_path.clone(), spec.tty, remote_command.clone());
        Box::pin(async move { mux_client::open(&path, tty, &command).await })
    };
    let opened = tokio::select! {
        opened = &mut open => opened,
        reason = &mut *stop => {
            tracker.spawn(late_session::reap(open, lease.duplicate(), nonce, spec.tty, entry));
            return stopped_before_start(reason, started).map(Attempt::Done);
        }
    };
    let mut session = match opened {
        Ok(s) => s,
        Err(e @ (mux_client::OpenError::Refused(_) | mux_client::OpenError::MasterGone(_))) => {
            return Ok(Attempt::Retry(e));
        }
        Err(e) => return Err(DaemonError::Mux(e.to_string())),
    };
    let pid = Arc::new(PidSlot::new(entry));
    // With a tty the remote stderr is merged into stdout, so that is where the report appears.
    let (stdout_filter, stderr_filter) = if spec.tty {
        (Some(PidReportFilter::new(&nonce)), None)
    } else {
        (None, Some(PidReportFilter::new(&nonce)))
    };
    counters.stdout_bytes.store(0, Ordering::Relaxed);
    counters.stderr_bytes.store(0, Ordering::Relaxed);
    let stdout_task = session.stdout.take().map(|r| {
        tracker.spawn(read_stream(
            r,
            spec.max_output,
            stdout_filter,
            pid.clone(),
            counters_ref(counters, true),
        ))
    });
    let stderr_task = session.stderr.take().map(|r| {
        tracker.spawn(read_stream(
            r,
            spec.max_output,
            stderr_filter,
            pid.clone(),
            counters_ref(counters, false),
        ))
    });

    let readers = async move {
        (
            join_capture(stdout_task).await,
            join_capture(stderr_task).await,
        )
    };
    tokio::pin!(readers);
    let mut exit = None;
    let mut output = None;
    let mut stopped = None;
    tokio::select! {
        status = session.wait() => {
            exit = status;
            // The exit report can overtake the last of the output: the channel (and so this
            // session) must stay open until the master has written everything and closed our
            // pipes, or the rest would be lost.
            tokio::select! {
                out = &mut readers => output = Some(out),
                reason = &mut *stop => stopped = Some(reason),
            }
        }
        reason = &mut *stop => stopped = Some(reason),
    }
    let mut kill_signal = None;
    if let Some(reason) = stopped {
        counters.set_phase(Phase::Stopping);
        kill_signal = stop_remote(lease, &pid, &mut session, reason).await;
        // The group is gone (or could not be reached); the exit report and EOF follow shortly.
        if exit.is_none() {
            exit = tokio::time::timeout(LOCAL_EXIT_GRACE, session.wait())
                .await
                .ok()
                .flatten();
        }
        if output.is_none() {
            output = tokio::time::timeout(LOCAL_EXIT_GRACE, &mut readers)
                .await
                .ok();
        }
    }
    // Closing the control connection closes the channel if it is still open; the master then
    // closes our pipes, so the readers finish.
    drop(session);
    let (stdout, stderr) = match output {
        Some(out) => out,
        None => readers.await,
    };
    counters.stdout_bytes.store(stdout.total, Ordering::Relaxed);
    counters.stderr_bytes.store(stderr.total, Ordering::Relaxed);
    let exit_code = exit.map(|v| v as i32);
    let outcome = match (stopped, exit_code) {
        // The pid report is the first thing the remote command line does: a login shell that
        // exited without it ran nothing (it could not parse the line; fish then even exits 0).
        (None, Some(status)) if pid.get().is_none() => {
            let mut stderr = stderr;
            stderr
                .bytes
                .extend_from_slice(not_started_note(status).as_bytes());
            ExecOutcome {
                exit_code: None,
                signal: None,
                stdout,
                stderr,
                timed_out: false,
                duration: started.elapsed(),
                reused_connection: lease.reused,
            }
        }
        (None, _) => ExecOutcome {
            // A channel that closed without an exit status: the command died of a signal or the
            // connection was lost; ssh itself reports 255 then, and so do we.
            exit_code: Some(exit_code.unwrap_or(255)),
            signal: None,
            stdout,
            stderr,
            timed_out: false,
            duration: started.elapsed(),
            reused_connection: lease.reused,
        },
        (Some(reason), _) => {
            tracing::info!(?reason, target = %spec.conn.target, "stopped a command");
            ExecOutcome {
                // Known when the command itself ended but its output was still held open.
                exit_code,
                signal: kill_signal,
                stdout,
                stderr,
                timed_out: reason == StopReason::Timeout,
                duration: started.elapsed(),
                reused_connection: lease.reused,
            }
        }
    };
    Ok(Attempt::Done(outcome))
}

/// What stderr gets when the remote login shell ended without starting the command.
fn not_started_note(status: i32) -> String {
    format!(
        "ssh-mcp: the command did not start: the remote login shell exited ({status}) before running \
         anything, most likely because it could not parse the command (its message is above). fish and \
         tcsh read a command in their own syntax; pass shell=\"sh\" to have sh run it.\n"
    )
}

/// How long a stopped command waits for its remote pid when the report has not come yet (a
/// stalled link delivers it late; without it the remote command cannot be reached).
fn pid_patience(reason: StopReason) -> Duration {
    match reason {
        // Nobody waits for a cancelled call: wait as long as a slow link may need.
        StopReason::Cancelled => Duration::from_secs(60),
        // The caller is waiting for the timed-out result.
        StopReason::Timeout => Duration::from_secs(3),
        // Shutdown has its own deadline for all commands together.
        StopReason::Shutdown => Duration::from_secs(5),
    }
}

/// Ends the command's remote process group over its master (see `killer`). Returns the signal
/// that ended the command, when we know it.
async fn stop_remote(
    lease: &Lease,
    pid: &PidSlot,
    session: &mut mux_client::Session,
    reason: StopReason,
) -> Option<i32> {
    // The report is the first thing the remote shell does; wait for it while the channel lives.
    let pgid = match pid.get() {
        Some(p) => Some(p),
        None => tokio::time::timeout(pid_patience(reason), async {
            tokio::select! {
                p = pid.known() => Some(p),
                // The channel ended: whatever the readers found is all there is.
                _ = session.wait() => pid.get(),
            }
        })
        .await
        .ok()
        .flatten(),
    };
    let Some(pgid) = pgid else {
        tracing::warn!("the remote command never reported its pid; it cannot be signalled");
        return None;
    };
    lease.killer.kill(pgid).await
}

/// The remote pid, filled in once by whichever reader finds the report, and recorded in the
/// command's journal entry (which records the command's end when the slot is dropped, after the
/// command has ended or been ended).
struct PidSlot {
    pid: tokio::sync::watch::Sender<Option<u32>>,
    entry: journal::Entry,
}

impl PidSlot {
    fn new(entry: journal::Entry) -> Self {
        Self {
            pid: tokio::sync::watch::Sender::new(None),
            entry,
        }
    }

    fn get(&self) -> Option<u32> {
        *self.pid.borrow()
    }

    fn set(&self, pid: u32) {
        self.entry.pgid(pid);
        self.pid.send_replace(Some(pid));
    }

    /// Resolves once the pid is known (at once if it already is).
    async fn known(&self) -> u32 {
        let mut rx = self.pid.subscribe();
        loop {
            if let Some(p) = *rx.borrow_and_update() {
                return p;
            }
            // The sender lives as long as `self`, so this cannot fail while we wait.
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// A handle to one byte counter that a reader task can own.
struct CounterRef(Arc<AtomicU64>);

fn counters_ref(counters: &Counters, stdout: bool) -> CounterRef {
    CounterRef(if stdout {
        counters.stdout_bytes.clone()
    } else {
        counters.stderr_bytes.clone()
    })
}

async fn read_stream(
    mut reader: impl AsyncRead + Unpin,
    cap: usize,
    mut filter: Option<PidReportFilter>,
    pid: Arc<PidSlot>,
    counter: CounterRef,
) -> Captured {
    let mut capture = Capture::new(cap);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        match filter.as_mut() {
            Some(f) => {
                if let Some(p) = f.feed(&buf[..n], &mut |b: &[u8]| capture.push(b)) {
                    pid.set(p);
                }
            }
            None => capture.push(&buf[..n]),
        }
        counter.0.store(capture.total(), Ordering::Relaxed);
    }
    if let Some(f) = filter.as_mut() {
        f.finish(&mut |b: &[u8]| capture.push(b));
    }
    capture.finish()
}

async fn join_capture(task: Option<tokio::task::JoinHandle<Captured>>) -> Captured {
    match task {
        Some(t) => t.await.unwrap_or_default(),
        None => Captured::default(),
    }
}

/// Hex digits from the kernel's random source, so a command cannot forge the pid report.
pub(crate) fn nonce() -> String {
    let mut bytes = [0u8; NONCE_BYTES];
    let filled = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if filled.is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        bytes = (t.as_nanos() as u64 ^ u64::from(std::process::id())).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
