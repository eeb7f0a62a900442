//! The owner task of one session: it reads the session's terminal into the output ring, the
//! marks log and the transcript, notices the end (the shell exits, the connection is lost, a
//! stop, daemon shutdown), names it (`classify`) and lets go of the host.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pty_process::OwnedReadPty;
use tokio::io::AsyncReadExt;

use super::super::link::Link;
use super::super::marks::MarkFilter;
use super::super::observer;
use super::super::registry::SessionRegistry;
use super::super::transcript::Transcript;
use super::{Exit, Session, StopBy, lock};
use crate::connection::pid_report::PidReportFilter;
use crate::state::Daemon;

/// The most output taken from the terminal at once: a flood arrives in fewer, larger pieces (each
/// a read, a ring push and a transcript write), while a prompt still comes as soon as it is there.
const READ_BYTES: usize = 256 * 1024;
/// How long the output may take to drain after the channel has closed.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);
/// How often a session's own ssh is checked for being in (its control socket).
const ADOPT_POLL: Duration = Duration::from_millis(50);

/// The session's output: the channel's socket, or the terminal of a session's own ssh.
pub(crate) type Output = Box<dyn tokio::io::AsyncRead + Send + Unpin>;

/// The owner task's state: everything that must live exactly as long as the session.
pub(super) struct Owner {
    pub(super) session: Arc<Session>,
    pub(super) daemon: Daemon,
    pub(super) link: Link,
    /// Where the session's output arrives (see [`Output`]).
    pub(super) reader: Output,
    /// The terminal's read side when output arrives elsewhere: held, never read.
    pub(super) _idle_terminal: Option<OwnedReadPty>,
    pub(super) transcript: Transcript,
    pub(super) filter: PidReportFilter,
    pub(super) marks: MarkFilter,
    pub(super) pgid: Option<u32>,
    /// The shell's journal entry: its process group once reported, its end when the owner ends.
    pub(super) journal: crate::recovery::journal::Entry,
    /// The output of one read with the marks taken out (reused from read to read).
    pub(super) clean: Vec<u8>,
}

impl Owner {
    pub(super) async fn run(mut self) {
        let mut buf = vec![0u8; READ_BYTES];
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
        // One buffer for the life of the session: a flood arrives in thousands of reads, and a
        // fresh buffer for each costs page faults (the allocator hands back what it trims).
        let mut clean = std::mem::take(&mut self.clean);
        clean.clear();
        let mut marks = Vec::new();
        let mark_filter = &mut self.marks;
        if let Some(pid) = self.filter.feed(&buf[..n], &mut |b: &[u8]| {
            mark_filter.feed(b, &mut clean, &mut marks)
        }) {
            self.pgid = Some(pid);
            self.journal.pgid(pid);
        }
        // Only this task pushes, so the marks' offsets count from the end before this push; they
        // are published after it, so that a run woken by its end mark finds all its output.
        let base = self.session.output().end_offset();
        if !clean.is_empty() {
            // Flushed per read of the terminal (up to READ_BYTES), so that a daemon that dies leaves
            // everything shown so far on disk.
            self.transcript.write(&clean);
            self.transcript.flush();
            if let Some(error) = self.transcript.new_error() {
                self.session.transcript_failed(error);
            }
            self.session.output().push(&clean);
        }
        if !marks.is_empty() {
            self.session.marks.send_modify(|log| {
                for (at, mark) in marks {
                    log.record(base + at as u64, mark);
                }
            });
        }
        self.clean = clean;
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
            self.session.output().push(&rest);
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
        // On disk before anyone learns of the end: a stop that has returned is in the file.
        SessionRegistry::save_off_workers(&self.daemon).await;
        self.session.output().close();
        self.session.ended.send_replace(true);
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
