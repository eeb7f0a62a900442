//! The watch phase: the tool runs in its process group, its progress read from the group's I/O
//! counters, until it ends or a stop comes; a stop signals the group while its leader is
//! unreaped (SIGTERM, then SIGKILL after the grace).

use std::process::ExitStatus;
use std::sync::atomic::Ordering;

use super::{Counters, Phase, SAMPLE_EVERY, TERM_GRACE};
use crate::connection::spawn;
use crate::exec::stop::StopReason;
use crate::transfers::proc_io::{self, Counted};
use crate::transfers::spec::TransferSpec;

/// Waits for the tool to end, or stops it; its exit status (when it has one) and the reason it
/// was stopped.
pub(super) async fn until_end_or_stop(
    child: &mut tokio::process::Child,
    spec: &TransferSpec,
    pgid: u32,
    counted: Counted,
    sizes: &[u64],
    counters: &Counters,
    stop: &mut (impl std::future::Future<Output = StopReason> + Unpin),
) -> (Option<ExitStatus>, Option<StopReason>) {
    let mut sampler = tokio::time::interval(SAMPLE_EVERY);
    let mut stopped = None;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status.ok(),
            reason = &mut *stop => {
                stopped = Some(reason);
                break None;
            }
            _ = sampler.tick() => sample(pgid, counted, sizes, counters),
        }
    };
    let status = match (status, stopped) {
        (Some(s), _) => Some(s),
        (None, Some(reason)) => {
            counters.set_phase(Phase::Stopping);
            tracing::info!(?reason, target = %spec.conn.target, "stopping a transfer");
            // The child is not reaped yet, so its pid still names its group.
            spawn::signal_group(child, libc::SIGTERM);
            match tokio::time::timeout(TERM_GRACE, child.wait()).await {
                Ok(s) => s.ok(),
                Err(_) => {
                    spawn::signal_group(child, libc::SIGKILL);
                    child.wait().await.ok()
                }
            }
        }
        (None, None) => None,
    };
    (status, stopped)
}

/// Reads the group's I/O counters into `counters`; for an upload, the files whose bytes were all
/// read count as done.
pub(super) fn sample(pgid: u32, counted: Counted, sizes: &[u64], counters: &Counters) {
    if pgid == 0 {
        return;
    }
    let now = proc_io::group_bytes(pgid, counted);
    // The group's processes end one by one; the figure never goes back.
    let bytes = counters.bytes.fetch_max(now, Ordering::Relaxed).max(now);
    let bytes = counters.total().map_or(bytes, |t| bytes.min(t));
    counters.bytes.store(bytes, Ordering::Relaxed);
    if !sizes.is_empty() {
        let mut sum = 0u64;
        let done = sizes
            .iter()
            .take_while(|n| {
                sum += **n;
                sum <= bytes
            })
            .count();
        counters.files.store(done as u64, Ordering::Relaxed);
    }
}
