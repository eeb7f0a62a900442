//! One attempt at running a command on a leased channel, as a sequence of named phases:
//! [`prepare`](super::prepare) (nonce, journal entry, the line sent), [`open`](super::open) (the
//! session, handed to `late_session` when the call stops first), [`watch`](super::watch) (the
//! readers, until the command ends or a stop comes), [`end_remote`](super::end_remote) (the
//! remote group ended on a stop) and [`account`](super::account) (the outcome).

use std::sync::Arc;
use std::time::Instant;

use super::open::Opened;
use super::stop::StopReason;
use super::{Counters, ExecOutcome, ExecSpec, Phase, account, end_remote, open, prepare, watch};
use crate::connection::masters::Lease;
use crate::connection::mux_client;
use crate::error::DaemonError;
use crate::outputs::spill::OutputSink;
use crate::state::Daemon;

pub(super) enum Attempt {
    Done(Box<ExecOutcome>),
    /// No session was opened (sshd refused it, or the master went away): nothing ran.
    Retry(mux_client::OpenError),
}

pub(super) async fn run_once(
    daemon: &Daemon,
    spec: &ExecSpec,
    lease: &Lease,
    counters: &Counters,
    stop: &mut (impl std::future::Future<Output = StopReason> + Unpin),
    started: Instant,
    sink: Option<&Arc<OutputSink>>,
) -> Result<Attempt, DaemonError> {
    let tracker = &daemon.shutdown.commands;
    let prepared = prepare::prepare(&daemon.journal, spec);
    let (mut session, pid, nonce) =
        match open::open(tracker, spec, lease, prepared, stop, started).await? {
            Opened::Session {
                session,
                pid,
                nonce,
            } => (session, pid, nonce),
            Opened::Ended(attempt) => return Ok(attempt),
        };
    let readers = watch::start_readers(tracker, &mut session, spec, &nonce, &pid, counters, sink);
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
    // Both readers are done: the kept output is whole.
    let kept = sink.and_then(|s| s.finish());
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
            kept,
        },
        started,
    );
    Ok(Attempt::Done(Box::new(outcome)))
}
