//! Why a long call stops early, and the future that says so: the caller cancelled (its client
//! went away), the daemon is shutting down, or the call's own deadline passed. Commands and
//! transfers wait on it beside their work.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::state::Daemon;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Timeout,
    Cancelled,
    Shutdown,
}

/// Resolves with the first reason to stop: `cancel`, shutdown, or `timeout` after `started`.
pub async fn first_reason(
    daemon: &Daemon,
    cancel: &CancellationToken,
    started: Instant,
    timeout: Option<Duration>,
) -> StopReason {
    let deadline = async {
        match timeout {
            Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(started + t)).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = cancel.cancelled() => StopReason::Cancelled,
        _ = daemon.shutdown.requested() => StopReason::Shutdown,
        _ = deadline => StopReason::Timeout,
    }
}
