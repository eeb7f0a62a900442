//! The reader tasks of the watch phase: one per pipe, each filling a bounded capture, filtering
//! the pid report out, and counting bytes for progress reports.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt};

use super::Counters;
use super::pid_slot::PidSlot;
use crate::connection::capture::{Capture, Captured};
use crate::connection::pid_report::PidReportFilter;
use crate::outputs::Stream;
use crate::outputs::spill::OutputSink;

/// A handle to one byte counter that a reader task can own.
pub(super) struct CounterRef(Arc<AtomicU64>);

pub(super) fn counters_ref(counters: &Counters, stdout: bool) -> CounterRef {
    CounterRef(if stdout {
        counters.stdout_bytes.clone()
    } else {
        counters.stderr_bytes.clone()
    })
}

pub(super) async fn read_stream(
    mut reader: impl AsyncRead + Unpin,
    cap: usize,
    mut filter: Option<PidReportFilter>,
    pid: Arc<PidSlot>,
    counter: CounterRef,
    sink: Option<(Arc<OutputSink>, Stream)>,
) -> Captured {
    let mut capture = Capture::new(cap);
    // Where the stream's bytes go besides the capture: the kept output, when there is one.
    let keep = |capture: &mut Capture, b: &[u8]| {
        capture.push(b);
        if let Some((sink, stream)) = &sink {
            sink.push(*stream, b);
        }
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        match filter.as_mut() {
            Some(f) => {
                if let Some(p) = f.feed(&buf[..n], &mut |b: &[u8]| keep(&mut capture, b)) {
                    pid.set(p);
                }
            }
            None => keep(&mut capture, &buf[..n]),
        }
        counter.0.store(capture.total(), Ordering::Relaxed);
    }
    if let Some(f) = filter.as_mut() {
        f.finish(&mut |b: &[u8]| keep(&mut capture, b));
    }
    // A kept output's result shows head and tail and says where they meet.
    if sink.is_some() {
        capture.finish_parts()
    } else {
        capture.finish()
    }
}

pub(super) async fn join_capture(task: Option<tokio::task::JoinHandle<Captured>>) -> Captured {
    match task {
        Some(t) => t.await.unwrap_or_default(),
        None => Captured::default(),
    }
}
