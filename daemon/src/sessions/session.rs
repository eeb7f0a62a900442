//! One live session: a PTY the daemon owns, the link to the host attached to it (`link.rs`: a
//! terminal channel on one of the pool's masters, or the session's own ssh), and the task that
//! owns both (`session/owner.rs`; [`Session::open`] starts it). What the calls do with a session
//! (write, resize, stop, render, record) is here.
//!
//! The remote shell reports its pid first (`scripts::session_command`), which is its process group:
//! a stop closes the channel, so that sshd hangs up the terminal, then ends whatever is left of the
//! group over the master's spare channel (SIGTERM, then SIGKILL after the grace).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError};
use std::time::{Duration, Instant};

use pty_process::OwnedWritePty;
use ssh_mcp_core::ssh::options::connection::Connection;
use ssh_mcp_core::ssh::remote::scripts;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Notify, watch};

use super::limits::TermSize;
use super::link;
use super::marks::{MarkFilter, MarkLog};
use super::observer::{self, ObserverState};
use super::output::SessionOutput;
use super::record::{self, SessionRecord};
use super::run::RunState;
use super::screen::Screen;
use super::spec::OpenSpec;
use super::transcript::{DEFAULT_TRANSCRIPT_CAP, Transcript};
use crate::connection::pid_report::PidReportFilter;
use crate::error::DaemonError;
use crate::state::Daemon;

mod owner;

use owner::Owner;

/// Bytes of output each session keeps for its readers.
pub const RING_BYTES: usize = 4 * 1024 * 1024;

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
    /// The connection it was opened with: its options (a port, `User` or `HostName` in
    /// `extra_ssh_args`) decide which host the policy sees on later calls. `None` for a session
    /// restored from a previous daemon's registry, which no call can reach the host of.
    pub conn: Option<Connection>,
    pub auto_close: bool,
    pub started: Instant,
    /// When it started, for the registry on disk.
    started_ms: u64,
    /// Read it through [`Session::output`], which fills a restored session's on first use.
    output: Arc<SessionOutput>,
    /// A restored session's transcript, whose end becomes its output when it is first read (a
    /// daemon that finds many ended sessions keeps none of their output in memory until then).
    restored_transcript: Option<PathBuf>,
    restored_loaded: Once,
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
    /// Why the transcript stopped being written, once it has (a full disk, say).
    transcript_error: Mutex<Option<String>>,
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
    /// The session's output. A restored session's is the end of its transcript, read from disk
    /// the first time it is asked for.
    pub fn output(&self) -> &Arc<SessionOutput> {
        if let Some(path) = &self.restored_transcript {
            self.restored_loaded.call_once(|| {
                self.output.push(&record::transcript_tail(path, RING_BYTES));
                self.output.close();
            });
        }
        &self.output
    }

    /// How long ago output last arrived; none for a restored session (its output came from
    /// disk, and a list should not read it).
    pub fn idle(&self) -> Option<Duration> {
        if self.restored_transcript.is_some() {
            return None;
        }
        self.output.last_output().map(|t| t.elapsed())
    }

    /// Opens a session for `spec`: a PTY of the asked size, a terminal channel on a master of
    /// the pool (sshd refusing one, at MaxSessions, only means trying another), the transcript,
    /// the observer, and the owner task on the `commands` tracker.
    pub async fn open(
        daemon: &Daemon,
        spec: &OpenSpec,
        id: String,
    ) -> Result<Arc<Self>, DaemonError> {
        let dir = daemon.config.state_dir.join(&id);
        // The transcript is a convenience: a full disk or a broken state directory leaves the
        // session without one (reported in its observer's warning), never without a session.
        let transcript = Transcript::open(&dir, DEFAULT_TRANSCRIPT_CAP).unwrap_or_else(|e| {
            tracing::warn!(session = %id, "starting without a transcript: {e}");
            Transcript::off(&dir, e.to_string())
        });
        let transcript_path = transcript.path().to_path_buf();
        let nonce = crate::connection::pid_report::nonce();
        let command =
            scripts::session_command(&nonce, spec.shell.as_ref(), spec.cwd.as_ref(), &spec.env);
        // In the journal before the shell can start: a daemon that dies from here on leaves a
        // record the next one ends the shell by (`orphans`).
        let journal = daemon.journal.begin(
            crate::recovery::journal::Kind::Session,
            &nonce,
            &spec.conn,
            spec.auth_sock.as_deref(),
        );
        let link::Connected { link, pty, output } = link::connect(daemon, spec, &command).await?;
        let (terminal, writer) = pty.into_split();
        // Output comes from the channel's socket when there is one; the terminal's read side
        // is then kept open, unread, so that the terminal stays up for the master.
        let (reader, idle_terminal): (owner::Output, _) = match output {
            Some(socket) => (Box::new(socket), Some(terminal)),
            None => (Box::new(terminal), None),
        };
        let tmux_name = observer::tmux_name(&spec.target, spec.name.as_deref(), &id);
        let observer = observer::start(spec.observer, transcript_path.clone(), tmux_name).await;
        let session = Arc::new(Self {
            id,
            name: spec.name.clone(),
            target: spec.target.clone(),
            conn: Some(spec.conn.clone()),
            auto_close: spec.auto_close,
            started: Instant::now(),
            started_ms: record::now_ms(),
            output: Arc::new(SessionOutput::new(RING_BYTES)),
            restored_transcript: None,
            restored_loaded: Once::new(),
            screen: Mutex::new((Screen::new(spec.size), 0)),
            size: Mutex::new(spec.size),
            writer: tokio::sync::Mutex::new(Some(writer)),
            master_pid: link.terminal_reader(),
            life: Mutex::new(Lifecycle::default()),
            ended: watch::Sender::new(false),
            stop_asked: Notify::new(),
            observer_view: Mutex::new(observer.clone()),
            transcript_error: Mutex::new(None),
            observer: tokio::sync::Mutex::new(observer),
            nonce: nonce.clone(),
            marks: watch::Sender::new(MarkLog::default()),
            runs: RunState::default(),
        });
        let mut transcript = transcript;
        if let Some(error) = transcript.new_error() {
            session.transcript_failed(error);
        }
        let owner = Owner {
            session: session.clone(),
            daemon: daemon.clone(),
            link,
            reader,
            _idle_terminal: idle_terminal,
            transcript,
            filter: PidReportFilter::new(&nonce),
            marks: MarkFilter::new(&nonce),
            pgid: None,
            journal,
            clean: Vec::new(),
        };
        daemon.shutdown.commands.spawn(owner.run());
        Ok(session)
    }

    /// A session of a previous daemon, from its record: ended (`daemon-restarted` if it was still
    /// running then), with the end of its transcript as its output once it is read.
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
        let now_ms = record::now_ms();
        let ended_ms = r.ended_ms.unwrap_or(now_ms);
        let ran = Duration::from_millis(ended_ms.saturating_sub(r.started_ms));
        // It ended that long ago, which its retention counts from (unknown for a session that
        // ran when its daemon died: from now, then).
        let now = Instant::now();
        let ended_at = now
            .checked_sub(Duration::from_millis(now_ms.saturating_sub(ended_ms)))
            .unwrap_or(now);
        let tmux = observer::tmux_name(&r.target, r.name.as_deref(), &r.id);
        let observer = ObserverState::transcript_only(r.transcript_path.clone(), tmux);
        let (ended, _) = watch::channel(true);
        Arc::new(Self {
            id: r.id.clone(),
            name: r.name.clone(),
            target: r.target.clone(),
            conn: None,
            auto_close: r.auto_close,
            started: ended_at.checked_sub(ran).unwrap_or(ended_at),
            started_ms: r.started_ms,
            output: Arc::new(SessionOutput::new(RING_BYTES)),
            restored_transcript: Some(r.transcript_path.clone()),
            restored_loaded: Once::new(),
            screen: Mutex::new((Screen::new(TermSize::DEFAULT), 0)),
            size: Mutex::new(TermSize::DEFAULT),
            writer: tokio::sync::Mutex::new(None),
            master_pid: None,
            life: Mutex::new(Lifecycle {
                exit: Some(exit),
                ended_at: Some(ended_at),
                stop: None,
                stop_signal: None,
            }),
            ended,
            stop_asked: Notify::new(),
            observer_view: Mutex::new(observer.clone()),
            transcript_error: Mutex::new(None),
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

    /// Records why the transcript stopped, for the observer's warning.
    pub(super) fn transcript_failed(&self, error: String) {
        *lock(&self.transcript_error) = Some(error);
    }

    pub fn observer(&self) -> ObserverState {
        let mut observer = lock(&self.observer_view).clone();
        if let Some(error) = lock(&self.transcript_error).as_deref() {
            let note = format!(
                "the transcript is no longer written ({error}); the output is still kept for reads"
            );
            observer.warning = Some(match observer.warning.take() {
                Some(w) => format!("{w}; {note}"),
                None => note,
            });
        }
        observer
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
            let chunk =
                self.output()
                    .read_now(super::output::ReadFrom::Offset(*fed), 1024 * 1024, None);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restored_session_reads_its_transcript_only_when_its_output_is_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let transcript = dir.path().join("transcript.log");
        let text = b"$ make\nbuilt\n".repeat(10_000);
        std::fs::write(&transcript, &text).unwrap();
        let record = SessionRecord {
            id: "s1".into(),
            name: Some("build".into()),
            target: "host".into(),
            auto_close: false,
            started_ms: 1,
            ended_ms: Some(2),
            exit_code: Some(0),
            signal: None,
            exit_reason: Some("clean-exit".into()),
            transcript_path: transcript,
        };
        let session = Session::restored(&record);
        // Listed, nothing of its output in memory yet.
        assert_eq!(session.output.end_offset(), 0);
        assert_eq!(session.idle(), None);
        assert!(!session.is_running());
        // The first read takes the end of the transcript, once.
        assert_eq!(session.output().end_offset(), text.len() as u64);
        assert!(session.output().is_closed());
        assert_eq!(session.output().end_offset(), text.len() as u64);
    }
}
