//! One live session: a PTY the daemon owns, a terminal channel on one of the pool's masters
//! attached to it, and the task that owns both ([`Session::open`] starts it). The task reads the
//! PTY into the session's output ring, screen and transcript, notices the end (the shell exits,
//! the connection is lost, a stop, daemon shutdown), and then gives the channel back.
//!
//! The remote shell reports its pid first (`remote::session_command`), which is its process group:
//! a stop closes the channel, so that sshd hangs up the terminal, then ends whatever is left of the
//! group over the master's spare channel (SIGTERM, then SIGKILL after the grace).

use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use pty_process::{OwnedReadPty, OwnedWritePty};
use ssh_mcp_core::ssh::remote;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, watch};

use super::limits::TermSize;
use super::link::{self, Link};
use super::marks::{MarkFilter, MarkLog};
use super::observer::{self, ObserverState};
use super::output::SessionOutput;
use super::record::{self, SessionRecord};
use super::run::RunState;
use super::screen::Screen;
use super::spec::OpenSpec;
use super::transcript::{DEFAULT_TRANSCRIPT_CAP, Transcript};
use crate::error::DaemonError;
use crate::mux_client;
use crate::pid_report::PidReportFilter;
use crate::spawn;
use crate::state::Daemon;

/// Bytes of output each session keeps for its readers.
pub const RING_BYTES: usize = 4 * 1024 * 1024;
/// How long the output may take to drain after the channel has closed.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);
/// How long a new session waits for a channel when every connection to its host is full.
const CHANNEL_PATIENCE: Duration = Duration::from_secs(60);
/// How often a session's own ssh is checked for being in (its control socket).
const ADOPT_POLL: Duration = Duration::from_millis(50);
/// Attempts when sshd refuses the channel on a master counted as free.
const OPEN_ATTEMPTS: u32 = 20;

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    /// clean-exit, exit-N, terminated, killed, connection-lost, daemon-restarted (the daemon
    /// stopped, or died, while the session ran).
    pub reason: String,
}

/// Who asked the session to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopBy {
    Agent { force: bool },
    Shutdown,
}

#[derive(Debug, Default)]
struct Lifecycle {
    exit: Option<Exit>,
    ended_at: Option<Instant>,
    stop: Option<StopBy>,
    /// The signal that ended the group when a stop had to send one.
    stop_signal: Option<i32>,
}

/// A session, shared by the registry, the calls that use it and its owner task.
pub struct Session {
    pub id: String,
    pub name: Option<String>,
    pub target: String,
    pub auto_close: bool,
    pub started: Instant,
    /// When it started, for the registry on disk.
    started_ms: u64,
    pub output: Arc<SessionOutput>,
    /// The rendered terminal and the output offset it has been fed up to: it is fed only when
    /// a read asks for the screen (a terminal emulator is slower than a flood of output).
    screen: Mutex<(Screen, u64)>,
    size: Mutex<TermSize>,
    /// `None` for a session restored from a previous daemon's registry.
    writer: tokio::sync::Mutex<Option<OwnedWritePty>>,
    /// The master that reads this session's terminal (it gets SIGWINCH on a resize).
    master_pid: Option<u32>,
    life: Mutex<Lifecycle>,
    ended: watch::Sender<bool>,
    stop_asked: Notify,
    observer: tokio::sync::Mutex<ObserverState>,
    observer_view: Mutex<ObserverState>,
    /// The nonce of this session's pid report and marks (empty for a restored session).
    pub(super) nonce: String,
    /// What the marks in the output said: the shell's name, runs' start and end offsets.
    pub(super) marks: watch::Sender<MarkLog>,
    /// Runs in this session (`sessions::run`).
    pub(super) runs: RunState,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Session {
    /// Opens a session for `spec`: a PTY of the asked size, a terminal channel on a master of
    /// the pool (sshd refusing one, at MaxSessions, only means trying another), the transcript,
    /// the observer, and the owner task on the `commands` tracker.
    pub async fn open(
        daemon: &Daemon,
        spec: &OpenSpec,
        id: String,
    ) -> Result<Arc<Self>, DaemonError> {
        let dir = daemon.config.state_dir.join(&id);
        let transcript = Transcript::open(&dir, DEFAULT_TRANSCRIPT_CAP)
            .map_err(|e| DaemonError::Internal(format!("the session transcript: {e}")))?;
        let transcript_path = transcript.path().to_path_buf();
        let nonce = crate::exec::nonce();
        let command =
            remote::session_command(&nonce, spec.shell.as_ref(), spec.cwd.as_ref(), &spec.env);
        let (link, pty) = connect(daemon, spec, &command).await?;
        let (reader, writer) = pty.into_split();
        let tmux_name = observer::tmux_name(&spec.target, spec.name.as_deref(), &id);
        let observer = observer::start(spec.observer, transcript_path.clone(), tmux_name).await;
        let session = Arc::new(Self {
            id,
            name: spec.name.clone(),
            target: spec.target.clone(),
            auto_close: spec.auto_close,
            started: Instant::now(),
            started_ms: record::now_ms(),
            output: Arc::new(SessionOutput::new(RING_BYTES)),
            screen: Mutex::new((Screen::new(spec.size), 0)),
            size: Mutex::new(spec.size),
            writer: tokio::sync::Mutex::new(Some(writer)),
            master_pid: link.terminal_reader(),
            life: Mutex::new(Lifecycle::default()),
            ended: watch::Sender::new(false),
            stop_asked: Notify::new(),
            observer_view: Mutex::new(observer.clone()),
            observer: tokio::sync::Mutex::new(observer),
            nonce: nonce.clone(),
            marks: watch::Sender::new(MarkLog::default()),
            runs: RunState::default(),
        });
        let owner = Owner {
            session: session.clone(),
            daemon: daemon.clone(),
            link,
            reader,
            transcript,
            filter: PidReportFilter::new(&nonce),
            marks: MarkFilter::new(&nonce),
            pgid: None,
        };
        daemon.shutdown.commands.spawn(owner.run());
        Ok(session)
    }

    /// A session of a previous daemon, from its record: ended (`daemon-restarted` if it was still
    /// running then), with the end of its transcript as its output.
    pub fn restored(r: &SessionRecord) -> Arc<Self> {
        let exit = match &r.exit_reason {
            Some(reason) if r.ended_ms.is_some() => Exit {
                code: r.exit_code,
                signal: r.signal,
                reason: reason.clone(),
            },
            _ => Exit {
                code: None,
                signal: None,
                reason: "daemon-restarted".into(),
            },
        };
        let ran = Duration::from_millis(
            r.ended_ms
                .unwrap_or_else(record::now_ms)
                .saturating_sub(r.started_ms),
        );
        let now = Instant::now();
        let output = SessionOutput::new(RING_BYTES);
        output.push(&record::transcript_tail(&r.transcript_path, RING_BYTES));
        output.close();
        let tmux = observer::tmux_name(&r.target, r.name.as_deref(), &r.id);
        let observer = ObserverState::transcript_only(r.transcript_path.clone(), tmux);
        let (ended, _) = watch::channel(true);
        Arc::new(Self {
            id: r.id.clone(),
            name: r.name.clone(),
            target: r.target.clone(),
            auto_close: r.auto_close,
            started: now.checked_sub(ran).unwrap_or(now),
            started_ms: r.started_ms,
            output: Arc::new(output),
            screen: Mutex::new((Screen::new(TermSize::DEFAULT), 0)),
            size: Mutex::new(TermSize::DEFAULT),
            writer: tokio::sync::Mutex::new(None),
            master_pid: None,
            life: Mutex::new(Lifecycle {
                exit: Some(exit),
                ended_at: Some(now),
                stop: None,
                stop_signal: None,
            }),
            ended,
            stop_asked: Notify::new(),
            observer_view: Mutex::new(observer.clone()),
            observer: tokio::sync::Mutex::new(observer),
            nonce: String::new(),
            marks: watch::Sender::new(MarkLog::default()),
            runs: RunState::default(),
        })
    }

    /// What the registry on disk keeps of this session.
    pub fn record(&self) -> SessionRecord {
        let life = lock(&self.life);
        let exit = life.exit.clone();
        SessionRecord {
            id: self.id.clone(),
            name: self.name.clone(),
            target: self.target.clone(),
            auto_close: self.auto_close,
            started_ms: self.started_ms,
            ended_ms: exit
                .as_ref()
                .map(|_| self.started_ms + self.uptime_locked(&life).as_millis() as u64),
            exit_code: exit.as_ref().and_then(|e| e.code),
            signal: exit.as_ref().and_then(|e| e.signal),
            exit_reason: exit.map(|e| e.reason),
            transcript_path: lock(&self.observer_view).transcript_path.clone(),
        }
    }

    fn uptime_locked(&self, life: &Lifecycle) -> Duration {
        life.ended_at
            .unwrap_or_else(Instant::now)
            .saturating_duration_since(self.started)
    }

    pub fn is_running(&self) -> bool {
        lock(&self.life).exit.is_none()
    }

    pub fn exit(&self) -> Option<Exit> {
        lock(&self.life).exit.clone()
    }

    /// Seconds the session ran (until it ended), and since it ended.
    pub fn uptime(&self) -> Duration {
        self.uptime_locked(&lock(&self.life))
    }

    pub fn ended_for(&self) -> Option<Duration> {
        lock(&self.life).ended_at.map(|t| t.elapsed())
    }

    pub fn size(&self) -> TermSize {
        *lock(&self.size)
    }

    pub fn observer(&self) -> ObserverState {
        lock(&self.observer_view).clone()
    }

    pub fn stop_signal(&self) -> Option<i32> {
        lock(&self.life).stop_signal
    }

    /// The rendered terminal, after feeding it what arrived since the last render. If the ring
    /// dropped output the screen never saw, it starts again from what the ring still holds.
    pub fn render(&self) -> super::screen::Rendered {
        let mut guard = lock(&self.screen);
        let (screen, fed) = &mut *guard;
        loop {
            let chunk = self
                .output
                .read_now(super::output::ReadFrom::Offset(*fed), 1024 * 1024);
            if chunk.dropped_bytes > 0 {
                *screen = Screen::new(self.size());
            }
            if chunk.bytes.is_empty() {
                break;
            }
            screen.feed(&chunk.bytes);
            *fed = chunk.to;
        }
        screen.render()
    }

    /// Sends `input` to the shell as typed. An interrupt (Ctrl-C and the like) takes the
    /// session back from a run still going, whose line the shell then abandons before its end
    /// mark: the next run no longer waits for it.
    pub async fn write(&self, input: &[u8]) -> Result<(), DaemonError> {
        if super::run::interrupts(input) {
            self.runs.forget_pending();
        }
        self.type_in(input).await
    }

    /// Sends `input` to the shell as typed, as a run does.
    pub(super) async fn type_in(&self, input: &[u8]) -> Result<(), DaemonError> {
        if let Some(exit) = self.exit() {
            return Err(DaemonError::SessionGone(format!(
                "Session '{}' has already exited ({}).",
                self.id, exit.reason
            )));
        }
        let mut writer = self.writer.lock().await;
        let Some(writer) = writer.as_mut() else {
            return Err(DaemonError::SessionGone(format!(
                "Session '{}' ran under a previous daemon and has ended.",
                self.id
            )));
        };
        writer
            .write_all(input)
            .await
            .and(writer.flush().await)
            .map_err(|e| {
                DaemonError::SessionGone(format!(
                    "Session '{}' is no longer writable: {e}.",
                    self.id
                ))
            })
    }

    /// Gives the terminal a new size: the PTY's window size, then SIGWINCH to the master that
    /// reads it, which sends the size to the server (and the remote programs get SIGWINCH).
    pub async fn resize(&self, size: TermSize) -> Result<(), DaemonError> {
        let writer = self.writer.lock().await;
        let (Some(writer), true) = (writer.as_ref(), self.is_running()) else {
            return Err(DaemonError::SessionGone(format!(
                "Session '{}' has ended; its terminal cannot be resized.",
                self.id
            )));
        };
        writer
            .resize(pty_process::Size::new(size.rows, size.cols))
            .map_err(|e| DaemonError::Internal(format!("resizing the terminal: {e}")))?;
        *lock(&self.size) = size;
        lock(&self.screen).0.resize(size);
        if let Some(pid) = self.master_pid {
            // SAFETY: kill has no memory preconditions; the pid is the daemon's own child, the
            // master this running session's channel lives on.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGWINCH);
            }
        }
        Ok(())
    }

    /// Asks the owner task to end the session and waits up to `wait` for it to be over.
    pub async fn stop(&self, force: bool, wait: Duration) {
        {
            let mut life = lock(&self.life);
            if life.exit.is_some() {
                return;
            }
            life.stop.get_or_insert(StopBy::Agent { force });
        }
        self.stop_asked.notify_one();
        self.wait_ended(wait).await;
    }

    /// Follows the end of the session (true once it has ended).
    pub(super) fn ended_watch(&self) -> watch::Receiver<bool> {
        self.ended.subscribe()
    }

    /// Waits up to `limit` for the session to end; true when it has.
    pub async fn wait_ended(&self, limit: Duration) -> bool {
        let mut rx = self.ended.subscribe();
        tokio::time::timeout(limit, rx.wait_for(|ended| *ended))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// The owner task's state: everything that must live exactly as long as the session.
struct Owner {
    session: Arc<Session>,
    daemon: Daemon,
    link: Link,
    reader: OwnedReadPty,
    transcript: Transcript,
    filter: PidReportFilter,
    marks: MarkFilter,
    pgid: Option<u32>,
}

impl Owner {
    async fn run(mut self) {
        let mut buf = vec![0u8; 64 * 1024];
        let mut status: Option<u32> = None;
        let mut channel_closed = false;
        let mut drain_until: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                read = self.reader.read(&mut buf) => match read {
                    Ok(0) | Err(_) => {
                        // The terminal closed; the exit status may still be on its way.
                        if !channel_closed {
                            status = tokio::time::timeout(DRAIN_LIMIT, self.link.wait_end())
                                .await
                                .ok()
                                .flatten();
                        }
                        break;
                    }
                    Ok(n) => self.feed(n, &buf),
                },
                s = self.link.wait_end(), if !channel_closed => {
                    status = s;
                    channel_closed = true;
                    // The master closes its copies of the terminal once the channel is gone;
                    // what it had written is still to be read.
                    drain_until = Some(tokio::time::Instant::now() + DRAIN_LIMIT);
                }
                _ = sleep_until(drain_until) => break,
                // A session's own ssh is in once its control socket appears: lend it to the pool.
                _ = tokio::time::sleep(ADOPT_POLL), if self.link.awaiting_adoption() => {
                    self.link.adopt_when_in();
                }
                _ = self.session.stop_asked.notified() => self.stop().await,
                _ = self.daemon.shutdown.requested(), if lock(&self.session.life).stop.is_none() => {
                    lock(&self.session.life).stop = Some(StopBy::Shutdown);
                    self.stop().await;
                }
            }
        }
        self.finish(status).await;
    }

    fn feed(&mut self, n: usize, buf: &[u8]) {
        let mut kept = Vec::with_capacity(n);
        if let Some(pid) = self
            .filter
            .feed(&buf[..n], &mut |b: &[u8]| kept.extend_from_slice(b))
        {
            self.pgid = Some(pid);
        }
        let mut clean = Vec::with_capacity(kept.len());
        let mut marks = Vec::new();
        self.marks.feed(&kept, &mut clean, &mut marks);
        // Only this task pushes, so the marks' offsets count from the end before this push; they
        // are published after it, so that a run woken by its end mark finds all its output.
        let base = self.session.output.end_offset();
        if !clean.is_empty() {
            // Flushed per read of the terminal (up to 64 KiB), so that a daemon that dies leaves
            // everything shown so far on disk.
            self.transcript.write(&clean);
            self.transcript.flush();
            self.session.output.push(&clean);
        }
        if !marks.is_empty() {
            self.session.marks.send_modify(|log| {
                for (at, mark) in marks {
                    log.record(base + at as u64, mark);
                }
            });
        }
    }

    /// Lets go of the host (sshd hangs up the terminal: the shell and its jobs get SIGHUP), then
    /// ends what is left of the group over the spare channel. A forced stop sends SIGKILL to the
    /// group first, while the link still reaches it.
    async fn stop(&mut self) {
        let force = matches!(
            lock(&self.session.life).stop,
            Some(StopBy::Agent { force: true })
        );
        let own_ssh = matches!(self.link, Link::OwnSsh { .. });
        let signal = match self.pgid {
            // The session's own ssh carries the spare channel too: signal before letting go.
            Some(pgid) if force || own_ssh => {
                let signal = self.link.kill_group(pgid, force).await;
                self.link.hang_up();
                signal.or(force.then_some(9))
            }
            Some(pgid) => {
                self.link.hang_up();
                self.link.kill_group(pgid, false).await
            }
            None => {
                self.link.hang_up();
                None
            }
        };
        lock(&self.session.life).stop_signal = signal;
    }

    async fn finish(mut self, status: Option<u32>) {
        let mut rest = Vec::new();
        self.filter
            .finish(&mut |b: &[u8]| rest.extend_from_slice(b));
        let mut clean = Vec::new();
        self.marks.feed(&rest, &mut clean, &mut Vec::new());
        self.marks.finish(&mut clean);
        let rest = clean;
        if !rest.is_empty() {
            self.transcript.write(&rest);
            self.session.output.push(&rest);
        }
        self.transcript.flush();
        let stop = lock(&self.session.life).stop;
        let master_alive = self.link.connection_alive().await;
        let mut exit = classify(status, stop, self.session.stop_signal(), master_alive);
        if self.pgid.is_none() && matches!(self.link, Link::OwnSsh { .. }) && status.is_none() {
            // The session's own ssh never got in (a wrong password three times, a refused host key).
            exit.reason = "ssh-connection-failed".into();
        }
        tracing::info!(session = %self.session.id, reason = %exit.reason, "session ended");
        {
            let mut life = lock(&self.session.life);
            life.exit = Some(exit);
            life.ended_at = Some(Instant::now());
        }
        self.link.hang_up();
        self.link.release().await;
        self.session.output.close();
        self.session.ended.send_replace(true);
        self.daemon.sessions.save(&self.daemon.config.state_dir);
        let mut observer = self.session.observer.lock().await;
        observer::stop(&mut observer).await;
        *lock(&self.session.observer_view) = observer.clone();
        // A lease goes back with `self`.
    }
}

/// What ended a session, from the exit status the master relayed (if any), the stop that was
/// asked for and whether the connection is still there.
fn classify(
    status: Option<u32>,
    stop: Option<StopBy>,
    stop_signal: Option<i32>,
    master_alive: bool,
) -> Exit {
    match (status, stop) {
        (Some(0), None) => Exit {
            code: Some(0),
            signal: None,
            reason: "clean-exit".into(),
        },
        (Some(code), None) => Exit {
            code: Some(code as i32),
            signal: None,
            reason: format!("exit-{code}"),
        },
        (_, Some(StopBy::Shutdown)) => Exit {
            code: None,
            signal: stop_signal,
            reason: "daemon-restarted".into(),
        },
        (_, Some(by)) => {
            let signal = stop_signal.or(match by {
                StopBy::Agent { force: true } => Some(9),
                _ => Some(1),
            });
            Exit {
                code: None,
                signal,
                reason: if signal == Some(9) {
                    "killed".into()
                } else {
                    "terminated".into()
                },
            }
        }
        (None, None) if !master_alive => Exit {
            code: None,
            signal: None,
            reason: "connection-lost".into(),
        },
        (None, None) => Exit {
            code: None,
            signal: None,
            reason: "killed".into(),
        },
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Reaches the host for a new session: a terminal channel on a master of the pool, or, when the
/// pool cannot log in without an answer (a password, a passphrase, a host key), an ssh of the
/// session's own that asks on the session's terminal.
async fn connect(
    daemon: &Daemon,
    spec: &OpenSpec,
    command: &str,
) -> Result<(Link, pty_process::Pty), DaemonError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let acquired = tokio::time::timeout(
            CHANNEL_PATIENCE,
            daemon
                .masters
                .acquire(&spec.conn, spec.auth_sock.as_deref()),
        )
        .await
        .map_err(|_| {
            DaemonError::SessionConflict(format!(
                "every connection to '{}' stayed busy for {}s (sessions hold their channel for                  life): stop a session you no longer need, then try again",
                spec.target,
                CHANNEL_PATIENCE.as_secs()
            ))
        })?;
        let lease = match acquired {
            Ok(lease) => lease,
            Err(DaemonError::Connect { detail, .. }) if link::needs_terminal(&detail) => {
                tracing::info!(target = %spec.target, "the host wants an answer: asking on the session's terminal");
                return own_ssh(daemon, spec, command);
            }
            Err(e) => return Err(e),
        };
        let (pty, pts) = new_terminal(spec.size)?;
        match mux_client::open_terminal(&lease.control_path, pts.as_raw_fd(), command).await {
            Ok(channel) => {
                // The master read the modes it sends to sshd from the terminal; from now on
                // bytes pass through this side untouched, as a terminal emulator's would.
                make_raw(&pty);
                let link = Link::Channel {
                    lease,
                    channel: Some(channel),
                };
                return Ok((link, pty));
            }
            Err(e @ (mux_client::OpenError::Refused(_) | mux_client::OpenError::MasterGone(_)))
                if attempt < OPEN_ATTEMPTS =>
            {
                if matches!(e, mux_client::OpenError::Refused(_)) {
                    lease.session_refused();
                }
                drop(lease);
                tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
            }
            Err(e) => return Err(DaemonError::Mux(e.to_string())),
        }
        // `pts` closes here: the master holds its own copies of the terminal.
    }
}

/// `ssh -tt -M` on the session's terminal (`argv::terminal_master`): ssh prompts there, and sets
/// the terminal's modes itself, as it does in a person's terminal.
fn own_ssh(
    daemon: &Daemon,
    spec: &OpenSpec,
    command: &str,
) -> Result<(Link, pty_process::Pty), DaemonError> {
    let settings = daemon.masters.settings()?;
    let (master_id, control_path) = daemon.masters.new_control_path(&spec.conn);
    let _ = std::fs::remove_file(&control_path);
    let argv =
        ssh_mcp_core::ssh::argv::terminal_master(&settings, &spec.conn, &control_path, command);
    let (pty, pts) = new_terminal(spec.size)?;
    let child = spawn::on_terminal(&argv, pts.as_fd(), spec.auth_sock.as_deref())?;
    let link = Link::OwnSsh {
        child,
        conn: spec.conn.clone(),
        pool: daemon.masters.clone(),
        master_id,
        control_path,
        killer: None,
    };
    Ok((link, pty))
}

fn new_terminal(size: TermSize) -> Result<(pty_process::Pty, pty_process::Pts), DaemonError> {
    let (pty, pts) = pty_process::open()
        .map_err(|e| DaemonError::Internal(format!("opening a terminal: {e}")))?;
    pty.resize(pty_process::Size::new(size.rows, size.cols))
        .map_err(|e| DaemonError::Internal(format!("sizing the terminal: {e}")))?;
    Ok((pty, pts))
}

/// Puts the terminal in raw mode (no echo, no line editing, no output translation).
fn make_raw(pty: &pty_process::Pty) {
    let fd = pty.as_raw_fd();
    // SAFETY: tcgetattr/tcsetattr on a terminal we own, with a termios we initialised.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) == 0 {
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(fd, libc::TCSANOW, &t);
        }
    }
}

/// Where a session's transcript lives.
pub fn transcript_path(state_dir: &std::path::Path, id: &str) -> PathBuf {
    state_dir.join(id).join(super::transcript::TRANSCRIPT_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_are_named_as_the_seed_names_them() {
        assert_eq!(classify(Some(0), None, None, true).reason, "clean-exit");
        assert_eq!(classify(Some(3), None, None, true).reason, "exit-3");
        assert_eq!(classify(None, None, None, false).reason, "connection-lost");
        let stopped = classify(None, Some(StopBy::Agent { force: false }), Some(15), true);
        assert_eq!(
            (stopped.reason.as_str(), stopped.signal),
            ("terminated", Some(15))
        );
        let forced = classify(None, Some(StopBy::Agent { force: true }), None, true);
        assert_eq!((forced.reason.as_str(), forced.signal), ("killed", Some(9)));
    }
}
