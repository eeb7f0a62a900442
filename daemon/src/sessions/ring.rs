//! [`OutputRing`]: the last few MiB of one session's output, addressed by absolute byte offsets
//! counted from the session's start, and [`Cursors`]: where each reader (an MCP client) got to.
//!
//! The ring never holds more than its capacity, whatever the session prints: the oldest bytes
//! go first, and a reader that asks for them is told how many it missed (`dropped_bytes`).
//! Reads are cut at UTF-8 character boundaries, so a read never ends inside a character that
//! the next read would start with (unless the output is not UTF-8 to begin with).

use std::collections::{HashMap, VecDeque};

/// The ring capacity when the configuration does not say otherwise.
pub const DEFAULT_RING_CAPACITY: usize = 4 * 1024 * 1024;
/// A smaller ring could not hold even one read's worth of terminal output.
pub const MIN_RING_CAPACITY: usize = 64;

/// A session's recent output. Offsets are absolute: byte `n` of the session's output keeps the
/// offset `n` even after the ring has dropped everything before it.
#[derive(Debug)]
pub struct OutputRing {
    bytes: VecDeque<u8>,
    capacity: usize,
    /// The absolute offset of `bytes[0]`.
    start: u64,
    /// Set once the session's output has ended: a trailing partial character is then final.
    closed: bool,
}

/// One read from an [`OutputRing`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chunk {
    pub bytes: Vec<u8>,
    /// The absolute offset of `bytes[0]`.
    pub from: u64,
    /// The offset just past the last byte: the next read starts here.
    pub to: u64,
    /// Bytes between the offset asked for and `from` that the ring no longer holds.
    pub dropped_bytes: u64,
    /// Bytes held after `to` (output that did not fit in this read, or a character still
    /// arriving).
    pub pending_bytes: u64,
    /// The output has ended and this chunk reaches its end: no read will return more.
    pub eof: bool,
}

impl Chunk {
    /// True when the read stopped before the end of what the ring holds.
    pub fn truncated(&self) -> bool {
        self.pending_bytes > 0
    }

    /// Keeps the longest beginning whose JSON text takes at most `max_chars` (terminal output
    /// is full of escapes, six characters each in JSON); the rest stays pending.
    pub fn keep_json_chars(&mut self, max_chars: usize) {
        let keep = crate::outputs::page::json_prefix(&self.bytes, max_chars);
        if keep < self.bytes.len() {
            let cut = (self.bytes.len() - keep) as u64;
            self.bytes.truncate(keep);
            self.to -= cut;
            self.pending_bytes += cut;
            self.eof = false;
        }
    }
}

impl OutputRing {
    /// An empty ring that will hold at most `capacity` bytes (at least [`MIN_RING_CAPACITY`]).
    /// Memory is taken as output arrives, not up front: a quiet session costs little.
    pub fn new(capacity: usize) -> Self {
        Self {
            bytes: VecDeque::new(),
            capacity: capacity.max(MIN_RING_CAPACITY),
            start: 0,
            closed: false,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The offset of the oldest byte still held.
    pub fn start_offset(&self) -> u64 {
        self.start
    }

    /// The offset just past the newest byte: everything the session has printed so far.
    pub fn end_offset(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }

    /// Bytes held now (never more than the capacity).
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Bytes of memory the ring has allocated; bounded by the capacity, which tests check.
    pub fn allocated(&self) -> usize {
        self.bytes.capacity()
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Marks the end of the output; later pushes are ignored.
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// Appends output, dropping the oldest bytes beyond the capacity.
    pub fn push(&mut self, mut bytes: &[u8]) {
        if self.closed || bytes.is_empty() {
            return;
        }
        if bytes.len() >= self.capacity {
            // Only the tail of this push survives; the rest is dropped without being copied.
            let skip = bytes.len() - self.capacity;
            self.start = self.end_offset() + skip as u64;
            self.bytes.clear();
            bytes = &bytes[skip..];
        } else {
            let overflow = (self.bytes.len() + bytes.len()).saturating_sub(self.capacity);
            self.bytes.drain(..overflow);
            self.start += overflow as u64;
        }
        self.reserve_within_capacity(bytes.len());
        self.bytes.extend(bytes);
    }

    /// Grows the buffer by doubling, but never past the capacity (a plain `extend` could
    /// allocate up to twice the capacity).
    fn reserve_within_capacity(&mut self, extra: usize) {
        let needed = self.bytes.len() + extra;
        if needed <= self.bytes.capacity() {
            return;
        }
        let target = (self.bytes.capacity() * 2).max(needed).min(self.capacity);
        self.bytes.reserve_exact(target - self.bytes.len());
    }

    /// Up to `max_bytes` bytes from `offset` on. An offset older than the ring holds starts at
    /// the oldest byte and reports the gap in `dropped_bytes`; an offset past the end reads
    /// nothing from the end.
    ///
    /// The cut falls on a character boundary: a character that would straddle `max_bytes` is
    /// left for the next read, except when it is the first one (then the read returns it whole,
    /// up to 3 bytes over `max_bytes`, rather than nothing). A character still arriving at the
    /// end of the output is held back until it is complete or the ring is closed.
    pub fn read_from(&self, offset: u64, max_bytes: usize) -> Chunk {
        let end = self.end_offset();
        let mut from = offset.clamp(self.start, end);
        if offset < self.start {
            // The reader lost the bytes before `start`; do not hand it the tail of a
            // character whose beginning is gone.
            from += self.continuation_bytes_at(from) as u64;
        }
        let available = (end - from) as usize;
        let want = available.min(max_bytes);
        // A character crossing `want` ends at most 3 bytes later.
        let seen = available.min(want.saturating_add(3));
        let first = (from - self.start) as usize;
        let view = self.copy_range(first, seen);
        let at_end = seen == available;
        let take = utf8_cut(&view, want, at_end && !self.closed);
        let mut bytes = view;
        bytes.truncate(take);
        let to = from + take as u64;
        Chunk {
            bytes,
            from,
            to,
            dropped_bytes: from.saturating_sub(offset),
            pending_bytes: end - to,
            eof: self.closed && to == end,
        }
    }

    /// `len` bytes from index `first` of the ring, copied slice by slice (a byte-wise copy of a
    /// deque's range is several times slower, and a read copies up to a megabyte).
    fn copy_range(&self, first: usize, len: usize) -> Vec<u8> {
        let (front, back) = self.bytes.as_slices();
        let mut view = Vec::with_capacity(len);
        let end = first + len;
        if first < front.len() {
            view.extend_from_slice(&front[first..end.min(front.len())]);
        }
        if end > front.len() {
            let from = first.saturating_sub(front.len());
            view.extend_from_slice(&back[from..end - front.len()]);
        }
        view
    }

    /// How many UTF-8 continuation bytes (at most 3) start at `offset`.
    fn continuation_bytes_at(&self, offset: u64) -> usize {
        let first = (offset - self.start) as usize;
        self.bytes
            .range(first..)
            .take(3)
            .take_while(|b| is_continuation(**b))
            .count()
    }
}

fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// The length of the UTF-8 sequence that `lead` starts; 1 for bytes that start none.
fn sequence_len(lead: u8) -> usize {
    match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 1,
    }
}

/// Where to cut `view` so that at most `want` bytes are taken without splitting a character.
/// `view` holds at least `want` bytes and, when more output exists, the 3 after them.
/// `more_may_follow`: `view` ends at the end of the output and the output is still running.
fn utf8_cut(view: &[u8], want: usize, more_may_follow: bool) -> usize {
    // The last character start before `want`; continuation bytes further back than 3 belong to
    // no valid character, so cutting among them splits nothing.
    let Some(lead) = (want.saturating_sub(3)..want)
        .rev()
        .find(|&i| !is_continuation(view[i]))
    else {
        return want;
    };
    let len = sequence_len(view[lead]);
    let char_end = lead + len;
    if char_end <= want {
        return want;
    }
    let seen_end = char_end.min(view.len());
    if !view[lead + 1..seen_end].iter().all(|b| is_continuation(*b)) {
        // Not a valid character: no character is split by cutting here.
        return want;
    }
    if char_end > view.len() {
        // The character is still arriving.
        return match (more_may_follow, lead) {
            (true, _) => lead,
            (false, 0) => view.len(),
            (false, _) => lead,
        };
    }
    // The character is complete but would straddle the cut.
    if lead == 0 { char_end } else { lead }
}

/// Read positions of the readers of one session, keyed by reader id (the MCP client's
/// connection id), so that every reader sees all the output once. A reader not seen before
/// starts at offset 0: it is told about what the ring dropped before it came.
///
/// Reads at an explicit offset are peeks: they do not move the reader's cursor.
#[derive(Debug, Default)]
pub struct Cursors {
    by_reader: HashMap<String, u64>,
}

impl Cursors {
    /// Where `reader` reads next.
    pub fn position(&self, reader: &str) -> u64 {
        self.by_reader.get(reader).copied().unwrap_or(0)
    }

    /// Records that `reader` has been given everything before `to`. Cursors only move
    /// forward: of two overlapping reads by one reader, the one that got further wins.
    pub fn advance(&mut self, reader: &str, to: u64) {
        match self.by_reader.get_mut(reader) {
            Some(at) => *at = (*at).max(to),
            None => {
                self.by_reader.insert(reader.to_owned(), to);
            }
        }
    }

    /// Forgets a reader that went away (its connection closed).
    pub fn remove(&mut self, reader: &str) {
        self.by_reader.remove(reader);
    }

    pub fn len(&self) -> usize {
        self.by_reader.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_reader.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring_with(capacity: usize, bytes: &[u8]) -> OutputRing {
        let mut ring = OutputRing::new(capacity);
        ring.push(bytes);
        ring
    }

    #[test]
    fn reads_everything_pushed_with_absolute_offsets() {
        let mut ring = OutputRing::new(1024);
        ring.push(b"hello ");
        ring.push(b"world");
        let chunk = ring.read_from(0, 100);
        assert_eq!(chunk.bytes, b"hello world");
        assert_eq!((chunk.from, chunk.to), (0, 11));
        assert_eq!((chunk.dropped_bytes, chunk.pending_bytes), (0, 0));
        assert!(!chunk.eof);
        let rest = ring.read_from(6, 100);
        assert_eq!(rest.bytes, b"world");
        assert_eq!(rest.from, 6);
    }

    #[test]
    fn reads_are_exact_wherever_the_ring_wraps() {
        // Pushes of odd sizes into a small ring wrap its storage at every position; each read
        // of every range must match what a plain list of the kept bytes holds.
        let mut ring = OutputRing::new(32);
        let mut all: Vec<u8> = Vec::new();
        for round in 0..40u8 {
            let push: Vec<u8> = (0..(round % 13 + 1))
                .map(|i| b'a' + (round + i) % 26)
                .collect();
            ring.push(&push);
            all.extend_from_slice(&push);
            let start = all.len().saturating_sub(32);
            for from in start..=all.len() {
                let rest = all.len() - from;
                for max in [0, 1, 2, 7, 8, 9, rest / 2, rest].map(|m| m.min(rest)) {
                    let chunk = ring.read_from(from as u64, max);
                    assert_eq!(
                        chunk.bytes,
                        &all[from..from + max],
                        "round {round}, {from}+{max}"
                    );
                }
            }
        }
    }

    #[test]
    fn max_bytes_caps_a_read_and_reports_what_is_pending() {
        let ring = ring_with(1024, b"0123456789");
        let chunk = ring.read_from(2, 3);
        assert_eq!(chunk.bytes, b"234");
        assert_eq!(chunk.to, 5);
        assert_eq!(chunk.pending_bytes, 5);
        assert!(chunk.truncated());
    }

    #[test]
    fn drops_the_oldest_bytes_and_tells_the_reader_how_many_it_missed() {
        let mut ring = OutputRing::new(64);
        for i in 0..10u8 {
            ring.push(&[b'a' + i; 10]);
        }
        assert_eq!(ring.len(), 64);
        assert_eq!(ring.start_offset(), 36);
        assert_eq!(ring.end_offset(), 100);
        let chunk = ring.read_from(10, 1000);
        assert_eq!(chunk.dropped_bytes, 26);
        assert_eq!(chunk.from, 36);
        assert_eq!(chunk.bytes.len(), 64);
        assert_eq!(chunk.bytes[0], b'd');
        assert_eq!(chunk.bytes[63], b'j');
    }

    #[test]
    fn a_push_larger_than_the_ring_keeps_its_tail() {
        let mut ring = OutputRing::new(64);
        ring.push(b"xyz");
        let big: Vec<u8> = (0..200u32).map(|i| b'!' + (i % 90) as u8).collect();
        ring.push(&big);
        assert_eq!(ring.end_offset(), 203);
        assert_eq!(ring.start_offset(), 203 - 64);
        let chunk = ring.read_from(ring.start_offset(), 64);
        assert_eq!(chunk.bytes, &big[136..]);
    }

    #[test]
    fn an_offset_past_the_end_reads_nothing_from_the_end() {
        let ring = ring_with(64, b"abc");
        let chunk = ring.read_from(99, 10);
        assert!(chunk.bytes.is_empty());
        assert_eq!((chunk.from, chunk.to, chunk.dropped_bytes), (3, 3, 0));
    }

    #[test]
    fn capacity_below_the_minimum_is_raised() {
        assert_eq!(OutputRing::new(0).capacity(), MIN_RING_CAPACITY);
    }

    #[test]
    fn two_hundred_megabytes_stay_within_the_capacity() {
        let capacity = DEFAULT_RING_CAPACITY;
        let mut ring = OutputRing::new(capacity);
        let block: Vec<u8> = (0..65_536u32).map(|i| b'a' + (i % 26) as u8).collect();
        let total: u64 = 200 * 1024 * 1024;
        let mut pushed = 0u64;
        while pushed < total {
            ring.push(&block);
            pushed += block.len() as u64;
            assert!(ring.len() <= capacity);
            assert!(ring.allocated() <= capacity, "{}", ring.allocated());
        }
        assert_eq!(ring.end_offset(), total);
        assert_eq!(ring.start_offset(), total - capacity as u64);
        let chunk = ring.read_from(0, 10);
        assert_eq!(chunk.dropped_bytes, total - capacity as u64);
        // The kept bytes are the newest ones, in order.
        assert_eq!(chunk.bytes[0], block[(chunk.from % 65_536) as usize]);
    }

    #[test]
    fn a_cut_does_not_split_a_character() {
        // "aé€😀": 1 + 2 + 3 + 4 bytes.
        let text = "aé€😀";
        let ring = ring_with(64, text.as_bytes());
        let cuts: Vec<usize> = (1..=10)
            .map(|max| ring.read_from(0, max).bytes.len())
            .collect();
        assert_eq!(cuts, [1, 1, 3, 3, 3, 6, 6, 6, 6, 10]);
        for max in 1..=10 {
            assert!(std::str::from_utf8(&ring.read_from(0, max).bytes).is_ok());
        }
    }

    #[test]
    fn a_first_character_longer_than_max_bytes_comes_whole() {
        let ring = ring_with(64, "😀x".as_bytes());
        let chunk = ring.read_from(0, 1);
        assert_eq!(chunk.bytes, "😀".as_bytes());
        assert_eq!(chunk.pending_bytes, 1);
    }

    #[test]
    fn paging_through_multibyte_text_returns_every_byte_once() {
        let text = "héllo wörld €uro 😀 ".repeat(50);
        let ring = ring_with(4096, text.as_bytes());
        let mut at = 0;
        let mut out = String::new();
        loop {
            let chunk = ring.read_from(at, 7);
            if chunk.bytes.is_empty() {
                break;
            }
            assert!(chunk.bytes.len() <= 7);
            out.push_str(std::str::from_utf8(&chunk.bytes).unwrap());
            at = chunk.to;
        }
        assert_eq!(out, text);
    }

    #[test]
    fn a_character_still_arriving_is_held_back_until_complete() {
        let euro = "€".as_bytes();
        let mut ring = ring_with(64, b"ab");
        ring.push(&euro[..2]);
        let chunk = ring.read_from(0, 100);
        assert_eq!(chunk.bytes, b"ab");
        assert_eq!(chunk.pending_bytes, 2);
        // Nothing but the partial character: the read returns nothing (and waits for more).
        assert!(ring.read_from(2, 100).bytes.is_empty());
        ring.push(&euro[2..]);
        assert_eq!(ring.read_from(2, 100).bytes, euro);
    }

    #[test]
    fn a_partial_character_is_returned_once_the_output_ends() {
        let mut ring = ring_with(64, &"€".as_bytes()[..2]);
        ring.close();
        let chunk = ring.read_from(0, 100);
        assert_eq!(chunk.bytes.len(), 2);
        assert!(chunk.eof);
        ring.push(b"ignored");
        assert_eq!(ring.end_offset(), 2);
    }

    #[test]
    fn binary_output_is_cut_exactly_at_max_bytes() {
        let ring = ring_with(64, &[0xFF, 0x80, 0x80, 0x80, 0x80, 0xC3, 0x41, 0x42]);
        for max in 1..=8 {
            assert_eq!(ring.read_from(0, max).bytes.len(), max, "max {max}");
        }
    }

    #[test]
    fn a_reader_that_lost_the_start_of_a_character_skips_its_tail() {
        let mut ring = OutputRing::new(64);
        ring.push(&[b'x'; 63]);
        ring.push("€".as_bytes()); // the ring holds 61 'x' and the euro sign
        ring.push(&[b'y'; 62]); // drops the 'x's and the euro's lead byte
        assert_eq!(ring.start_offset(), 64);
        let chunk = ring.read_from(0, 100);
        assert_eq!(chunk.from, 66);
        assert_eq!(chunk.dropped_bytes, 66);
        assert_eq!(chunk.bytes, [b'y'; 62]);
    }

    #[test]
    fn cursors_track_each_reader_separately() {
        let mut cursors = Cursors::default();
        assert_eq!(cursors.position("a"), 0);
        cursors.advance("a", 10);
        cursors.advance("b", 4);
        cursors.advance("a", 7);
        assert_eq!(cursors.position("a"), 10);
        assert_eq!(cursors.position("b"), 4);
        assert_eq!(cursors.len(), 2);
        cursors.remove("a");
        assert_eq!(cursors.position("a"), 0);
        assert_eq!(cursors.len(), 1);
    }
}
