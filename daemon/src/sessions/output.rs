//! [`SessionOutput`]: one session's [`OutputRing`] and reader [`Cursors`], shared between the
//! task that reads the PTY (which pushes) and the calls that read (which wait).
//!
//! A read returns as soon as new output has arrived and then stayed quiet for a short settle
//! time, so an agent gets a command's answer when it is complete instead of after the whole
//! `wait_seconds`; it also returns when it already holds a full read, at the deadline, and when
//! the session's output has ended.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::ring::{Chunk, Cursors, OutputRing};

/// How long output must stay quiet before a read returns it, unless the caller says otherwise:
/// long enough for a shell to finish printing a command's answer, short enough not to be felt.
pub const DEFAULT_SETTLE: Duration = Duration::from_millis(75);
/// Waits are capped here whatever the caller asks, so deadlines never overflow; the agent's
/// `wait_seconds` is refused far below this (see `limits`).
const LONGEST_WAIT: Duration = Duration::from_secs(24 * 3600);

/// Where a read starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom<'a> {
    /// At this reader's cursor, which the read then moves past what it returns.
    Cursor(&'a str),
    /// At an absolute offset (a re-read); no cursor moves.
    Offset(u64),
}

/// One read, as the session tools ask for it.
#[derive(Debug, Clone, Copy)]
pub struct ReadRequest<'a> {
    pub from: ReadFrom<'a>,
    pub max_bytes: usize,
    /// The most characters the output may take as JSON text, when the read has such a budget.
    pub json_chars: Option<usize>,
    /// The longest the read waits for new output.
    pub wait: Duration,
    /// How long new output must have been quiet before the read returns it.
    pub settle: Duration,
    /// Only output past this offset counts as new. A write passes the end offset as it was
    /// when it wrote, so that unread output from before the write does not end the wait before
    /// the answer comes; `None` counts anything the read returns.
    pub new_after: Option<u64>,
}

impl<'a> ReadRequest<'a> {
    /// A read with the default settle time, counting anything unread as new.
    pub fn new(from: ReadFrom<'a>, max_bytes: usize, wait: Duration) -> Self {
        Self {
            from,
            max_bytes,
            json_chars: None,
            wait,
            settle: DEFAULT_SETTLE,
            new_after: None,
        }
    }
}

#[derive(Debug)]
struct State {
    ring: OutputRing,
    cursors: Cursors,
    /// When the last push happened: the settle time counts from here.
    last_output: Option<Instant>,
}

/// A session's output, shared by reference (`Arc<SessionOutput>`) between its PTY reader and
/// any number of concurrent readers.
///
/// A std mutex is right here: it is held only to copy bytes in or out of the ring, never
/// across an await. The watch channel carries no value; it only wakes waiting readers after a
/// push or the close, and a reader that subscribes before it looks at the ring cannot miss one.
#[derive(Debug)]
pub struct SessionOutput {
    state: Mutex<State>,
    changed: watch::Sender<()>,
}

impl SessionOutput {
    /// An empty output with a ring of `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State {
                ring: OutputRing::new(capacity),
                cursors: Cursors::default(),
                last_output: None,
            }),
            changed: watch::Sender::new(()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state consistent, so a panic elsewhere cannot have left it
        // half-written: keep serving it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends output and wakes the readers. Never blocks for longer than a copy into the ring.
    pub fn push(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        {
            let mut state = self.state();
            state.ring.push(bytes);
            state.last_output = Some(Instant::now());
        }
        self.changed.send_replace(());
    }

    /// Marks the end of the output (the session ended); waiting readers return at once.
    pub fn close(&self) {
        self.state().ring.close();
        self.changed.send_replace(());
    }

    pub fn is_closed(&self) -> bool {
        self.state().ring.is_closed()
    }

    pub fn start_offset(&self) -> u64 {
        self.state().ring.start_offset()
    }

    pub fn end_offset(&self) -> u64 {
        self.state().ring.end_offset()
    }

    /// When output last arrived (`idle_seconds` in the session's status).
    pub fn last_output(&self) -> Option<Instant> {
        self.state().last_output
    }

    /// Where `reader` reads next.
    pub fn cursor(&self, reader: &str) -> u64 {
        self.state().cursors.position(reader)
    }

    /// Forgets a reader whose connection closed.
    pub fn forget_reader(&self, reader: &str) {
        self.state().cursors.remove(reader);
    }

    /// Reads without waiting (at most `json_chars` characters of JSON text, when given).
    pub fn read_now(
        &self,
        from: ReadFrom<'_>,
        max_bytes: usize,
        json_chars: Option<usize>,
    ) -> Chunk {
        let mut state = self.state();
        let offset = match from {
            ReadFrom::Cursor(reader) => state.cursors.position(reader),
            ReadFrom::Offset(offset) => offset,
        };
        let mut chunk = state.ring.read_from(offset, max_bytes);
        if let Some(max_chars) = json_chars {
            chunk.keep_json_chars(max_chars);
        }
        if let ReadFrom::Cursor(reader) = from {
            state.cursors.advance(reader, chunk.to);
        }
        chunk
    }

    /// Waits for output as `request` says (see the module doc), then reads it.
    pub async fn read(&self, request: ReadRequest<'_>) -> Chunk {
        let deadline = Instant::now() + request.wait.min(LONGEST_WAIT);
        let mut changes = self.changed.subscribe();
        loop {
            let now = Instant::now();
            let wake_at = {
                let state = self.state();
                let offset = match request.from {
                    ReadFrom::Cursor(reader) => state.cursors.position(reader),
                    ReadFrom::Offset(offset) => offset,
                };
                let chunk = state.ring.read_from(offset, request.max_bytes);
                let end = state.ring.end_offset();
                let has_new =
                    !chunk.bytes.is_empty() && request.new_after.is_none_or(|after| end > after);
                let full = end - chunk.from > request.max_bytes as u64;
                let quiet_at = state
                    .last_output
                    .map_or(now, |last| last + request.settle.min(LONGEST_WAIT));
                let done = state.ring.is_closed()
                    || now >= deadline
                    || (has_new && (full || now >= quiet_at));
                if done {
                    drop(state);
                    return self.read_now(request.from, request.max_bytes, request.json_chars);
                }
                has_new.then_some(quiet_at.min(deadline))
            };
            match wake_at {
                // New output is there: check again once it may have gone quiet. Waking on
                // every push instead would make a flood spin this loop.
                Some(at) => tokio::time::sleep_until(at).await,
                None => {
                    tokio::select! {
                        _ = changes.changed() => {}
                        _ = tokio::time::sleep_until(deadline) => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn shared() -> SessionOutput {
        SessionOutput::new(4096)
    }

    /// Pushes each `(delay, bytes)` after its delay (from the previous push). Tests run it
    /// beside a read with `join!` (daemon code spawns tasks only on the shutdown trackers).
    async fn produce(output: &SessionOutput, script: Vec<(u64, &'static [u8])>) {
        for (delay, bytes) in script {
            tokio::time::sleep(MS * delay as u32).await;
            output.push(bytes);
        }
    }

    async fn timed_read(output: &SessionOutput, request: ReadRequest<'_>) -> (Chunk, Duration) {
        let start = Instant::now();
        let chunk = output.read(request).await;
        (chunk, start.elapsed())
    }

    fn cursor_read(reader: &str, wait_ms: u64) -> ReadRequest<'_> {
        ReadRequest::new(ReadFrom::Cursor(reader), 1024, MS * wait_ms as u32)
    }

    #[tokio::test(start_paused = true)]
    async fn output_already_quiet_returns_at_once() {
        let output = shared();
        output.push(b"ready\n");
        tokio::time::advance(Duration::from_secs(1)).await;
        let (chunk, took) = timed_read(&output, cursor_read("a", 5_000)).await;
        assert_eq!(chunk.bytes, b"ready\n");
        assert_eq!(took, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn returns_a_settle_time_after_the_last_output_not_at_the_deadline() {
        let output = shared();
        let request = ReadRequest {
            settle: MS * 100,
            ..cursor_read("a", 10_000)
        };
        let ((chunk, took), ()) = tokio::join!(
            timed_read(&output, request),
            produce(&output, vec![(10, b"one "), (20, b"two")])
        );
        assert_eq!(chunk.bytes, b"one two");
        assert_eq!(took, MS * 130);
    }

    #[tokio::test(start_paused = true)]
    async fn waits_until_the_deadline_when_nothing_arrives() {
        let output = shared();
        let (chunk, took) = timed_read(&output, cursor_read("a", 2_000)).await;
        assert!(chunk.bytes.is_empty());
        assert_eq!(took, MS * 2_000);
    }

    #[tokio::test(start_paused = true)]
    async fn output_that_never_goes_quiet_is_returned_at_the_deadline() {
        let output = shared();
        let request = ReadRequest {
            settle: MS * 100,
            ..cursor_read("a", 1_010)
        };
        let ((chunk, took), ()) = tokio::join!(
            timed_read(&output, request),
            produce(&output, vec![(50, b"tick\n"); 40])
        );
        assert_eq!(took, MS * 1_010);
        assert_eq!(chunk.bytes, b"tick\n".repeat(20));
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_read_returns_without_waiting_for_quiet() {
        let output = shared();
        output.push(&[b'x'; 100]);
        let request = ReadRequest::new(ReadFrom::Cursor("a"), 10, Duration::from_secs(5));
        let (chunk, took) = timed_read(&output, request).await;
        assert_eq!(took, Duration::ZERO);
        assert_eq!(chunk.bytes.len(), 10);
        assert_eq!(chunk.pending_bytes, 90);
        assert_eq!(output.cursor("a"), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn the_end_of_the_output_ends_the_wait() {
        let output = shared();
        let ((chunk, took), ()) =
            tokio::join!(timed_read(&output, cursor_read("a", 10_000)), async {
                tokio::time::sleep(MS * 300).await;
                output.push(b"bye\n");
                output.close();
            });
        assert_eq!(took, MS * 300);
        assert_eq!(chunk.bytes, b"bye\n");
        assert!(chunk.eof);
    }

    #[tokio::test(start_paused = true)]
    async fn every_reader_sees_all_the_output_once() {
        let output = shared();
        output.push(b"first\n");
        let a1 = output.read(cursor_read("a", 0)).await;
        output.push(b"second\n");
        let b1 = output.read(cursor_read("b", 0)).await;
        let a2 = output.read(cursor_read("a", 0)).await;
        let a3 = output.read(cursor_read("a", 0)).await;
        assert_eq!(a1.bytes, b"first\n");
        assert_eq!(b1.bytes, b"first\nsecond\n");
        assert_eq!(a2.bytes, b"second\n");
        assert!(a3.bytes.is_empty());
        assert_eq!((output.cursor("a"), output.cursor("b")), (13, 13));
        output.forget_reader("a");
        assert_eq!(output.cursor("a"), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn an_explicit_offset_rereads_without_moving_the_cursor() {
        let output = shared();
        output.push(b"0123456789");
        output.read(cursor_read("a", 0)).await;
        let again = output
            .read(ReadRequest::new(ReadFrom::Offset(4), 3, Duration::ZERO))
            .await;
        assert_eq!(again.bytes, b"456");
        assert_eq!(output.cursor("a"), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_waits_for_its_answer_past_unread_output() {
        let output = shared();
        output.push(b"stale\n");
        tokio::time::advance(Duration::from_secs(1)).await;
        let written_at = output.end_offset();
        let request = ReadRequest {
            new_after: Some(written_at),
            ..cursor_read("a", 5_000)
        };
        let ((chunk, took), ()) = tokio::join!(
            timed_read(&output, request),
            produce(&output, vec![(200, b"answer\n")])
        );
        assert_eq!(chunk.bytes, b"stale\nanswer\n");
        assert_eq!(took, MS * 200 + DEFAULT_SETTLE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_that_fell_behind_is_told_what_it_missed() {
        let output = SessionOutput::new(64);
        output.push(&[b'a'; 50]);
        output.push(&[b'b'; 50]);
        let chunk = output.read(cursor_read("a", 0)).await;
        assert_eq!(chunk.dropped_bytes, 36);
        assert_eq!(chunk.bytes.len(), 64);
        assert_eq!(output.cursor("a"), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn half_a_character_is_not_new_output() {
        let output = shared();
        let euro = "€".as_bytes();
        output.push(&euro[..1]);
        let ((chunk, took), ()) =
            tokio::join!(timed_read(&output, cursor_read("a", 1_000)), async {
                tokio::time::sleep(MS * 40).await;
                output.push(&euro[1..]);
            });
        assert_eq!(chunk.bytes, euro);
        assert_eq!(took, MS * 40 + DEFAULT_SETTLE);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_readers_all_wake_on_one_push() {
        let output = shared();
        let start = Instant::now();
        let (a, b, c, ()) = tokio::join!(
            output.read(cursor_read("a", 5_000)),
            output.read(cursor_read("b", 5_000)),
            output.read(cursor_read("c", 5_000)),
            produce(&output, vec![(100, b"hi")])
        );
        for chunk in [a, b, c] {
            assert_eq!(chunk.bytes, b"hi");
        }
        assert_eq!(start.elapsed(), MS * 100 + DEFAULT_SETTLE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_keeps_memory_bounded_and_readers_get_full_reads_at_once() {
        let output = SessionOutput::new(1 << 20);
        let block = [b'y'; 65_536];
        let total = 200u64 << 20;
        let (read, ()) = tokio::join!(output.read(cursor_read("a", 5_000)), async {
            for _ in 0..total / block.len() as u64 {
                output.push(&block);
                tokio::task::yield_now().await;
            }
        });
        // The reader woke at the first push and returned a full read without waiting to settle.
        assert_eq!(read.from, 0);
        assert_eq!(read.bytes.len(), 1024);
        let state = output.state();
        assert_eq!(state.ring.end_offset(), total);
        assert!(state.ring.allocated() <= 1 << 20);
        drop(state);
        let behind = output.read_now(ReadFrom::Cursor("a"), 1024, None);
        assert_eq!(behind.dropped_bytes, total - (1 << 20) - 1024);
    }
}
