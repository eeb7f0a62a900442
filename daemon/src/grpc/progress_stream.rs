//! A long call as a server stream, the same for commands and transfers: the work runs in a task on
//! the `commands` tracker (so it survives the client and shutdown finds it), progress events go
//! out every `interval_ms` when asked for, and the stream ends with the outcome. A client that
//! goes away (the stream dropped, or a progress event that finds it closed) cancels the work.
//! While it runs, the work counts in Status's running commands.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::door::{Ended, Entry};
use crate::error::DaemonError;
use crate::state::Daemon;

/// How a long call's outcome ends its audit record.
pub(super) trait Audited {
    fn ended(&self) -> Ended;
}

/// Counts a running call for Status, for as long as it lives.
struct RunningGuard(Daemon);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.running_commands.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Starts `work` (given the token that cancels it) and returns the stream of its events:
/// `progress()` every `interval_ms` (never, for 0; at least 100 ms apart), then `finished(outcome)`
/// or the error's status. `what` names the work in the log. The call's audit record is written
/// just before the last event goes out.
pub(super) fn spawn<O, E, W, Fut, P, F>(
    daemon: &Daemon,
    entry: Entry,
    what: String,
    interval_ms: u32,
    work: W,
    progress: P,
    finished: F,
) -> ReceiverStream<Result<E, Status>>
where
    O: Audited + Send + 'static,
    E: Send + 'static,
    W: FnOnce(CancellationToken) -> Fut + Send + 'static,
    Fut: Future<Output = Result<O, DaemonError>> + Send,
    P: Fn() -> E + Send + 'static,
    F: FnOnce(O) -> E + Send + 'static,
{
    // Small and bounded: a call sends a handful of events, and a slow reader only delays
    // progress reports, never the work.
    let (tx, rx) = mpsc::channel(4);
    daemon.running_commands.fetch_add(1, Ordering::Relaxed);
    daemon.commands_total.fetch_add(1, Ordering::Relaxed);
    let guard = RunningGuard(daemon.clone());
    daemon.shutdown.commands.spawn(async move {
        let _guard = guard;
        let cancel = CancellationToken::new();
        let work = work(cancel.clone());
        tokio::pin!(work);
        let mut ticker = (interval_ms > 0).then(|| {
            let every = Duration::from_millis(u64::from(interval_ms.max(100)));
            tokio::time::interval_at(tokio::time::Instant::now() + every, every)
        });
        let mut client_gone = false;
        let result = loop {
            tokio::select! {
                result = &mut work => break result,
                _ = async { match ticker.as_mut() { Some(t) => { t.tick().await; } None => std::future::pending().await } } => {
                    if tx.try_send(Ok(progress())).is_err() && tx.is_closed() {
                        client_gone = true;
                        cancel.cancel();
                    }
                }
                _ = tx.closed(), if !client_gone => {
                    client_gone = true;
                    tracing::info!(%what, "client went away: cancelling");
                    cancel.cancel();
                }
            }
        };
        let event = match result {
            Ok(outcome) => {
                entry.finish(&outcome.ended());
                Ok(finished(outcome))
            }
            Err(e) => {
                let status = Status::from(e);
                entry.finish(&Ended::failed(&status));
                Err(status)
            }
        };
        let _ = tx.send(event).await;
    });
    ReceiverStream::new(rx)
}
