//! One attempt at running a command on a leased channel, as a sequence of named phases:
//! [`prepare`](super::prepare) (nonce, journal entry, the line sent), [`open`](super::open) (the
//! session, handed to `late_session` when the call stops first), [`watch`](super::watch) (the
//! readers, until the command ends or a stop comes), [`end_remote`](super::end_remote) (the
//! remote group ended on a stop) and [`account`](super::account) (the outcome).

use std::time::Instant;

use tokio_util::task::TaskTracker;

use super::open::Opened;
use super::stop::StopReason;
use super::{Counters, ExecOutcome, ExecSpec, Phase, account, end_remote, open, prepare, watch};
use crate::connection::masters::Lease;
use crate::connection::mux_client;
use crate::error::DaemonError;
use crate::recovery::journal::Journal;

pub(super) enum Attempt {
    Done(ExecOutcome),
    /// No session was opened (sshd refused it, or the master went away): nothing ran.
    Retry(mux_client::OpenError),
}

pub(super) async fn run_once(
    tracker: &TaskTracker,
    journal: &Journal,
    spec: &ExecSpec,
    lease: &Lease,
    counters: &Counters,
    stop: &mut (impl std::future::Future<Output = StopReason> + Unpin),
    started: Instant,
) -> Result<Attempt, DaemonError> {
    let prepared = prepare::prepare(journal, spec);
    let (mut session, pid, nonce) =
        match open::open(tracker, spec, lease, prepared, stop, started).await? {
            Opened::Session {
                session,
                pid,
                nonce,
            } => (session, pid, nonce),
            Opened::Ended(attempt) => return Ok(attempt),
        };
    let readers = watch::start_readers(tracker, &mut session, spec, &nonce, &pid, counters);
    tokio::pin!(readers);
    let mut watched = watch::until_end_or_stop(&mut session, &mut readers, stop).await;
    let mut kill_signal = None;
    if let Some(reason) = watched.stopped {
        counters.set_phase(Phase::Stopping);
        kill_signal = end_remote::end_group(lease, &pid, &mut session, reason).await;
        end_remote::let_local_end(&mut session, &mut readers, &mut watched).await;
    }
    // Closing the control connection closes the channel if it is still open; the master then
    // closes our pipes, so the readers finish.
    drop(session);
    let (stdout, stderr) = match watched.output {
        Some(out) => out,
        None => readers.await,
    };
    let outcome = account::outcome(
        spec,
        lease,
        counters,
        &pid,
        account::Ended {
            stopped: watched.stopped,
            exit: watched.exit,
            kill_signal,
            stdout,
            stderr,
        },
        started,
    );
    Ok(Attempt::Done(outcome))
}
