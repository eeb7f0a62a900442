//! CPU-bound search work (matching paths against a glob) on the blocking pool rather than on the
//! async workers. A match over a big listing can take a while, and on an async worker it would
//! hold up every other call that worker serves (the runtime has as many workers as cores, two on
//! a small machine), and the timer of the call's own deadline with them.
//!
//! At most [`MAX_JOBS`] jobs run at once, daemon-wide, so that searches cannot take every core
//! from the rest of the daemon. A job gets a [`CancellationToken`] that it checks between items:
//! it is cancelled when the deadline passes, when the caller goes away (its future is dropped)
//! and at shutdown, so a job never runs on unseen after its call has ended.

use std::time::Instant;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::state::Daemon;

/// Jobs running at once on the blocking pool.
pub const MAX_JOBS: usize = 2;

static JOBS: Semaphore = Semaphore::const_new(MAX_JOBS);

/// Why a job gave no result.
#[derive(Debug, thiserror::Error)]
pub enum OffloadError {
    #[error("the deadline passed")]
    DeadlinePassed,
    #[error("the daemon is shutting down")]
    ShuttingDown,
    #[error("a matching job failed: {0}")]
    Failed(String),
}

/// Runs `job` on the blocking pool (on the `commands` tracker, so shutdown waits for it) once a
/// slot is free, and returns its result. The whole wait, slot included, ends at `deadline`. The
/// job should return early once its token is cancelled; what it returns then is discarded.
pub async fn run<T, F>(
    daemon: &Daemon,
    deadline: Option<Instant>,
    job: F,
) -> Result<T, OffloadError>
where
    T: Send + 'static,
    F: FnOnce(&CancellationToken) -> T + Send + 'static,
{
    let stop = CancellationToken::new();
    // Dropped when this future is, whichever way it ends: a job still running then stops.
    let _stop_when_dropped = stop.clone().drop_guard();
    let work = async {
        let permit = JOBS
            .acquire()
            .await
            .map_err(|_| OffloadError::ShuttingDown)?;
        let token = stop.clone();
        let handle = daemon.shutdown.commands.spawn_blocking(move || {
            // The slot is given back when the job ends, not when its caller stops waiting.
            let _permit = permit;
            job(&token)
        });
        handle
            .await
            .map_err(|e| OffloadError::Failed(e.to_string()))
    };
    let limit = async {
        match deadline {
            Some(t) => tokio::time::sleep_until(t.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        done = work => done,
        _ = limit => Err(OffloadError::DeadlinePassed),
        _ = daemon.shutdown.requested() => Err(OffloadError::ShuttingDown),
    }
}
