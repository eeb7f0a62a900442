//! The stop phase: a command stopped by its timeout, a cancellation or shutdown has its remote
//! process group ended over its master (see `connection::killer`), then its local side gets a
//! short grace to report the exit and drain its pipes.

use std::future::Future;
use std::time::Duration;

use super::pid_slot::PidSlot;
use super::stop::StopReason;
use super::watch::Watched;
use crate::connection::capture::Captured;
use crate::connection::masters::Lease;
use crate::connection::mux_client;

/// How long a stopped command's local ssh gets to exit after its remote group is gone.
const LOCAL_EXIT_GRACE: Duration = Duration::from_secs(2);

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
pub(super) async fn end_group(
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

/// The group is gone (or could not be reached); the exit report and EOF follow shortly.
pub(super) async fn let_local_end(
    session: &mut mux_client::Session,
    readers: &mut (impl Future<Output = (Captured, Captured)> + Unpin),
    watched: &mut Watched,
) {
    if watched.exit.is_none() {
        watched.exit = tokio::time::timeout(LOCAL_EXIT_GRACE, session.wait())
            .await
            .ok()
            .flatten();
    }
    if watched.output.is_none() {
        watched.output = tokio::time::timeout(LOCAL_EXIT_GRACE, readers).await.ok();
    }
}
