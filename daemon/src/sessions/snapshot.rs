//! What a session call answers: the session's status plus one read of its output, as a plain
//! [`Snapshot`] (the gRPC layer turns it into wire types).

use std::time::Duration;

use super::observer::ObserverState;
use super::output::{ReadFrom, ReadRequest};
use super::screen::{Rendered, strip_ansi};
use super::session::{Exit, Session};
use super::spec::ReadSpec;

/// A session's status and one read of its output.
pub struct Snapshot {
    pub id: String,
    pub name: Option<String>,
    pub target: String,
    pub running: bool,
    pub exit: Option<Exit>,
    pub output: Vec<u8>,
    pub truncated: bool,
    pub pending_bytes: u64,
    pub uptime: Duration,
    pub idle: Option<Duration>,
    pub observer: ObserverState,
    pub auto_close: bool,
    pub output_offset: u64,
    pub next_offset: u64,
    pub dropped_bytes: u64,
    pub screen: Option<Rendered>,
    pub rows: u16,
    pub cols: u16,
}

/// How a read waits.
pub enum Wait {
    /// Up to the read's `wait`, for output that is new to this reader.
    ForUnread,
    /// Up to the read's `wait`, for output past this offset (what a write answers).
    ForOutputAfter(u64),
    /// Not at all (a list).
    No,
}

/// Reads `session`'s output as `read` says and describes the session.
pub async fn take(session: &Session, read: &ReadSpec, wait: Wait) -> Snapshot {
    let from = match read.offset {
        Some(offset) => ReadFrom::Offset(offset),
        None => ReadFrom::Cursor(&read.reader),
    };
    let chunk = match wait {
        Wait::No => None,
        Wait::ForUnread | Wait::ForOutputAfter(_) => {
            let mut request = ReadRequest::new(from, read.max_bytes, read.wait);
            request.settle = read.settle;
            request.json_chars = read.json_chars;
            if let Wait::ForOutputAfter(after) = wait {
                request.new_after = Some(after);
            }
            Some(session.output().read(request).await)
        }
    };
    let describe = |chunk: Option<super::ring::Chunk>| {
        let chunk = chunk.unwrap_or_default();
        let output = if read.strip_ansi {
            strip_ansi(&chunk.bytes).into_bytes()
        } else {
            chunk.bytes.clone()
        };
        let size = session.size();
        Snapshot {
            id: session.id.clone(),
            name: session.name.clone(),
            target: session.target.clone(),
            running: session.is_running(),
            exit: session.exit(),
            output,
            truncated: chunk.truncated(),
            pending_bytes: chunk.pending_bytes,
            uptime: session.uptime(),
            idle: session.idle(),
            observer: session.observer(),
            auto_close: session.auto_close,
            output_offset: chunk.from,
            next_offset: chunk.to.max(chunk.from),
            dropped_bytes: chunk.dropped_bytes,
            screen: read.screen.then(|| session.render()),
            rows: size.rows,
            cols: size.cols,
        }
    };
    describe(chunk)
}
