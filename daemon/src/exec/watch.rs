//! The watch phase: two reader tasks fill the bounded captures from the session's pipes (the pid
//! report filtered out on the way), while the command runs until it ends or a stop comes.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio_util::task::TaskTracker;

use super::pid_slot::PidSlot;
use super::readers::{counters_ref, join_capture, read_stream};
use super::stop::StopReason;
use super::{Counters, ExecSpec};
use crate::connection::capture::Captured;
use crate::connection::mux_client;
use crate::connection::pid_report::PidReportFilter;
use crate::outputs::Stream;
use crate::outputs::spill::OutputSink;

/// What the watch saw: the exit status, the output when the readers finished, and the reason to
/// stop if one came first.
pub(super) struct Watched {
    pub exit: Option<u32>,
    pub output: Option<(Captured, Captured)>,
    pub stopped: Option<StopReason>,
}

/// Starts the two readers; the future resolves with both captures once the pipes close.
pub(super) fn start_readers(
    tracker: &TaskTracker,
    session: &mut mux_client::Session,
    spec: &ExecSpec,
    nonce: &str,
    pid: &Arc<PidSlot>,
    counters: &Counters,
    sink: Option<&Arc<OutputSink>>,
) -> impl Future<Output = (Captured, Captured)> + use<> {
    // With a tty the remote stderr is merged into stdout, so that is where the report appears.
    let (stdout_filter, stderr_filter) = if spec.tty {
        (Some(PidReportFilter::new(nonce)), None)
    } else {
        (None, Some(PidReportFilter::new(nonce)))
    };
    counters.stdout_bytes.store(0, Ordering::Relaxed);
    counters.stderr_bytes.store(0, Ordering::Relaxed);
    let stdout_task = session.stdout.take().map(|r| {
        tracker.spawn(read_stream(
            r,
            spec.max_output,
            stdout_filter,
            pid.clone(),
            counters_ref(counters, true),
            sink.map(|s| (s.clone(), Stream::Stdout)),
        ))
    });
    let stderr_task = session.stderr.take().map(|r| {
        tracker.spawn(read_stream(
            r,
            spec.max_output,
            stderr_filter,
            pid.clone(),
            counters_ref(counters, false),
            sink.map(|s| (s.clone(), Stream::Stderr)),
        ))
    });
    async move {
        (
            join_capture(stdout_task).await,
            join_capture(stderr_task).await,
        )
    }
}

/// Waits until the command has ended and its output is all read, or a reason to stop comes.
pub(super) async fn until_end_or_stop(
    session: &mut mux_client::Session,
    readers: &mut (impl Future<Output = (Captured, Captured)> + Unpin),
    stop: &mut (impl Future<Output = StopReason> + Unpin),
) -> Watched {
    let mut watched = Watched {
        exit: None,
        output: None,
        stopped: None,
    };
    tokio::select! {
        status = session.wait() => {
            watched.exit = status;
            // The exit report can overtake the last of the output: the channel (and so this
            // session) must stay open until the master has written everything and closed our
            // pipes, or the rest would be lost.
            tokio::select! {
                out = &mut *readers => watched.output = Some(out),
                reason = &mut *stop => watched.stopped = Some(reason),
            }
        }
        reason = &mut *stop => watched.stopped = Some(reason),
    }
    watched
}
