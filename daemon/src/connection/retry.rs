//! [`open_with_retries`]: the one loop that takes a lease, opens a channel on it, and when nothing
//! ran (sshd refused the channel, or the master went away) gives the lease back, backs off a
//! little and tries again on another. Exec, SFTP sessions and terminal sessions each bring their
//! own way to take a lease and open a channel ([`ChannelOpener`]), their number of attempts and
//! their error.

use std::future::Future;
use std::time::Duration;

use super::masters::Lease;
use super::mux_client::OpenError;
use crate::error::DaemonError;

/// What one try on a lease gave.
pub enum Tried<T> {
    /// The channel opened and the caller has its result (or stopped before opening one).
    Done(T),
    /// Nothing ran on the channel: sshd refused it (MaxSessions) or its master went away.
    Refused { lease: Lease, why: OpenError },
}

/// One caller's way to take a lease and open a channel on it. A trait rather than a closure so
/// that the future's `Send` is stated once, here: the calls run as tasks on the trackers.
pub trait ChannelOpener {
    type Opened;

    /// Takes a lease and opens a channel on it.
    fn try_once(&mut self)
    -> impl Future<Output = Result<Tried<Self::Opened>, DaemonError>> + Send;
}

/// Whether an open failure means that nothing ran, so another channel may work.
pub fn nothing_ran(e: &OpenError) -> bool {
    matches!(e, OpenError::Refused(_) | OpenError::MasterGone(_))
}

/// Runs `opener.try_once` until it is [`Tried::Done`], at most `attempts` times. After a refusal, the
/// master learns that sshd allows fewer sessions than counted (`Lease::session_refused`), the
/// lease goes back, and the next try waits 5 ms more than the last. When the last try is refused
/// too, the error is `exhausted`'s.
pub async fn open_with_retries<O: ChannelOpener>(
    attempts: u32,
    opener: &mut O,
    exhausted: impl FnOnce(OpenError) -> DaemonError,
) -> Result<O::Opened, DaemonError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (lease, why) = match opener.try_once().await? {
            Tried::Done(v) => return Ok(v),
            Tried::Refused { lease, why } => (lease, why),
        };
        if attempt >= attempts {
            return Err(exhausted(why));
        }
        tracing::debug!(attempt, %why, "retrying on another channel");
        if matches!(why, OpenError::Refused(_)) {
            lease.session_refused();
        }
        drop(lease);
        tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
    }
}
