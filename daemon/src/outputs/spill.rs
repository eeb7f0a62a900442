//! [`Spill`]: one stream of a running command on its way into the [`OutputStore`]. A stream
//! stays in memory until it passes `from` bytes (most commands print less, and their result holds
//! all of it); from then on every byte goes to the stream's file, up to `limit` bytes and as long
//! as the quota allows. A failed write (a full disk) stops the spill, never the command: the
//! result says how much was kept and why.

use std::fs::File;
use std::io::Write;

use super::{OutputStore, Stream, StreamKept};

pub struct Spill {
    store: OutputStore,
    id: String,
    stream: Stream,
    /// Bytes held in memory before the file is started.
    from: usize,
    /// The most bytes kept in the file.
    limit: u64,
    pending: Vec<u8>,
    file: Option<File>,
    kept: StreamKept,
}

impl Spill {
    pub fn new(store: OutputStore, id: String, stream: Stream, from: usize, limit: u64) -> Self {
        Self {
            store,
            id,
            stream,
            from,
            limit,
            pending: Vec::new(),
            file: None,
            kept: StreamKept::default(),
        }
    }

    /// Whether the stream has gone to its file.
    pub fn started(&self) -> bool {
        self.file.is_some()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.kept.written += bytes.len() as u64;
        if self.kept.note.is_some() {
            return;
        }
        if self.file.is_none() {
            if self.pending.len() + bytes.len() <= self.from {
                self.pending.extend_from_slice(bytes);
                return;
            }
            if !self.start() {
                return;
            }
        }
        self.write(bytes);
    }

    /// Opens the stream's file and writes what was held in memory.
    fn start(&mut self) -> bool {
        let opened = self
            .store
            .begin(&self.id)
            .and_then(|()| self.store.create_stream(&self.id, self.stream));
        match opened {
            Ok(file) => {
                self.file = Some(file);
                let pending = std::mem::take(&mut self.pending);
                self.write(&pending);
                true
            }
            Err(e) => {
                self.stop(format!("the output could not be kept: {e}"));
                false
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        let room = self.limit.saturating_sub(self.kept.kept);
        let take = &bytes[..bytes.len().min(room as usize)];
        if !take.is_empty() {
            if !self.store.reserve(&self.id, take.len() as u64) {
                self.stop(format!(
                    "the kept outputs' quota is full: the rest of {} was not kept",
                    self.stream.name()
                ));
                return;
            }
            let Some(file) = self.file.as_mut() else {
                return;
            };
            if let Err(e) = file.write_all(take) {
                self.store.unreserve(take.len() as u64);
                self.stop(format!(
                    "writing the kept output failed ({e}): the rest of {} was not kept",
                    self.stream.name()
                ));
                return;
            }
            self.kept.kept += take.len() as u64;
        }
        if take.len() < bytes.len() {
            self.stop(format!(
                "max_output_bytes ({}) reached: the rest of {} was not kept",
                self.limit,
                self.stream.name()
            ));
        }
    }

    fn stop(&mut self, note: String) {
        tracing::info!(output = %self.id, "{note}");
        self.kept.note = Some(note);
        self.file = None;
        self.pending = Vec::new();
    }

    /// The stream has ended. When `keep` (the command's other stream went to a file), a stream
    /// still in memory goes to its file too, so the output holds both whole.
    pub fn finish(mut self, keep: bool) -> StreamKept {
        if keep && self.file.is_none() && self.kept.note.is_none() && self.start() {
            // `start` wrote what was pending.
        }
        self.kept
    }
}

/// Both streams of one command on their way into the store, shared by its two reader tasks.
pub struct OutputSink {
    store: OutputStore,
    id: String,
    spills: [std::sync::Mutex<Option<Spill>>; 2],
}

impl OutputSink {
    /// `from`: bytes of a stream held in memory before it goes to a file; `limit`: the most kept
    /// of each stream.
    pub fn new(store: OutputStore, id: String, from: usize, limit: u64) -> Self {
        let spill = |stream| {
            std::sync::Mutex::new(Some(Spill::new(
                store.clone(),
                id.clone(),
                stream,
                from,
                limit,
            )))
        };
        Self {
            spills: [spill(Stream::Stdout), spill(Stream::Stderr)],
            store,
            id,
        }
    }

    pub fn push(&self, stream: Stream, bytes: &[u8]) {
        let mut spill = self.spills[stream.index()]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(s) = spill.as_mut() {
            s.push(bytes);
        }
    }

    /// Both streams have ended: when either went to a file, the output is kept (both streams
    /// whole) and this returns what was kept of each; else nothing is kept.
    pub fn finish(&self) -> Option<(String, [StreamKept; 2])> {
        let mut taken = [None, None];
        for (slot, spill) in taken.iter_mut().zip(&self.spills) {
            *slot = spill.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
        let keep = taken
            .iter()
            .flatten()
            .any(|s| s.started() || s.kept.note.is_some());
        if !keep {
            return None;
        }
        let [out, err] = taken.map(|s| s.map(|s| s.finish(true)).unwrap_or_default());
        let streams = [out, err];
        self.store.finish(&self.id, streams.clone());
        Some((self.id.clone(), streams))
    }
}
