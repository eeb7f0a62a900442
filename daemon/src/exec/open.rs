//! The open phase: the command's session on the leased master. Opening waits for the server to
//! confirm the channel; a stalled link must not hold the call past its timeout or a cancellation.
//! If the call stops first, the open goes on in the background (`late_session`), which ends the
//! command should the session open after all.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::task::TaskTracker;

use super::attempt::Attempt;
use super::pid_slot::PidSlot;
use super::prepare::Prepared;
use super::stop::StopReason;
use super::{ExecSpec, late_session, stopped_before_start};
use crate::connection::masters::Lease;
use crate::connection::mux_client::{self, OpenError};
use crate::error::DaemonError;

pub(super) enum Opened {
    /// The session is open; its pid arrives in the slot once the command reports it.
    Session {
        session: mux_client::Session,
        pid: Arc<PidSlot>,
        nonce: String,
    },
    /// The attempt is over before anything ran (stopped, or the channel was refused).
    Ended(Attempt),
}

pub(super) async fn open(
    tracker: &TaskTracker,
    spec: &ExecSpec,
    lease: &Lease,
    prepared: Prepared,
    stop: &mut (impl std::future::Future<Output = StopReason> + Unpin),
    started: Instant,
) -> Result<Opened, DaemonError> {
    let Prepared {
        nonce,
        entry,
        remote_command,
    } = prepared;
    let mut open: late_session::PendingOpen = {
        let (path, tty) = (lease.control_path.clone(), spec.tty);
        Box::pin(async move { mux_client::open(&path, tty, &remote_command).await })
    };
    let opened = tokio::select! {
        opened = &mut open => opened,
        reason = &mut *stop => {
            tracker.spawn(late_session::reap(open, lease.duplicate(), nonce, spec.tty, entry));
            return stopped_before_start(reason, started).map(|o| Opened::Ended(Attempt::Done(Box::new(o))));
        }
    };
    match opened {
        Ok(session) => Ok(Opened::Session {
            session,
            pid: Arc::new(PidSlot::new(entry)),
            nonce,
        }),
        Err(e @ (OpenError::Refused(_) | OpenError::MasterGone(_))) => {
            Ok(Opened::Ended(Attempt::Retry(e)))
        }
        Err(e) => Err(DaemonError::Mux(e.to_string())),
    }
}
