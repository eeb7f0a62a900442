//! [`Capture`]: a bounded buffer for one output stream. It keeps the first half of the cap and the
//! last half, counts every byte, and never grows past the cap, so a command printing gigabytes
//! costs the daemon at most the cap.

use std::collections::VecDeque;

#[derive(Debug)]
pub struct Capture {
    head: Vec<u8>,
    head_cap: usize,
    tail: VecDeque<u8>,
    tail_cap: usize,
    total: u64,
}

/// What a [`Capture`] kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// The bytes kept; when truncated, head and tail joined by a one-line note.
    pub bytes: Vec<u8>,
    pub truncated: bool,
    /// Every byte the stream carried, kept or not.
    pub total: u64,
    /// Where in `bytes` the left-out part was, when the capture ended with
    /// [`Capture::finish_parts`] (no note is written there).
    pub cut_at: Option<usize>,
}

impl Capture {
    pub fn new(cap: usize) -> Self {
        let head_cap = cap / 2;
        Self {
            head: Vec::new(),
            head_cap,
            tail: VecDeque::new(),
            tail_cap: cap - head_cap,
            total: 0,
        }
    }

    pub fn push(&mut self, mut chunk: &[u8]) {
        self.total += chunk.len() as u64;
        if self.head.len() < self.head_cap {
            let n = chunk.len().min(self.head_cap - self.head.len());
            self.head.extend_from_slice(&chunk[..n]);
            chunk = &chunk[n..];
        }
        if chunk.is_empty() || self.tail_cap == 0 {
            return;
        }
        if chunk.len() >= self.tail_cap {
            self.tail.clear();
            self.tail.extend(&chunk[chunk.len() - self.tail_cap..]);
            return;
        }
        let overflow = (self.tail.len() + chunk.len()).saturating_sub(self.tail_cap);
        self.tail.drain(..overflow);
        self.tail.extend(chunk);
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn finish(self) -> Captured {
        let kept = (self.head.len() + self.tail.len()) as u64;
        let truncated = kept < self.total;
        let mut bytes = self.head;
        if truncated {
            let omitted = self.total - kept;
            bytes.extend_from_slice(format!("\n[ssh-mcp: {omitted} bytes omitted]\n").as_bytes());
        }
        bytes.extend(self.tail);
        Captured {
            bytes,
            truncated,
            total: self.total,
            ..Captured::default()
        }
    }

    /// Like [`Capture::finish`], but head and tail are joined with nothing between them, and
    /// `cut_at` says where they meet (the shim writes its own marker there).
    pub fn finish_parts(self) -> Captured {
        let kept = (self.head.len() + self.tail.len()) as u64;
        let truncated = kept < self.total;
        let cut_at = truncated.then_some(self.head.len());
        let mut bytes = self.head;
        bytes.extend(self.tail);
        Captured {
            bytes,
            truncated,
            total: self.total,
            cut_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_output_is_kept_whole() {
        let mut c = Capture::new(10);
        c.push(b"abc");
        c.push(b"de");
        assert_eq!(
            c.finish(),
            Captured {
                bytes: b"abcde".to_vec(),
                truncated: false,
                total: 5,
                ..Captured::default()
            }
        );
    }

    #[test]
    fn large_output_keeps_head_and_tail_and_counts_all() {
        let mut c = Capture::new(8);
        for _ in 0..1000 {
            c.push(b"0123456789");
        }
        let out = c.finish();
        assert!(out.truncated);
        assert_eq!(out.total, 10_000);
        assert!(out.bytes.starts_with(b"0123"));
        assert!(out.bytes.ends_with(b"6789"));
        assert!(String::from_utf8_lossy(&out.bytes).contains("9992 bytes omitted"));
    }

    #[test]
    fn parts_say_where_head_and_tail_meet() {
        let mut c = Capture::new(8);
        c.push(b"0123456789");
        let out = c.finish_parts();
        assert_eq!(out.bytes, b"01236789");
        assert_eq!((out.cut_at, out.truncated, out.total), (Some(4), true, 10));
        let mut whole = Capture::new(8);
        whole.push(b"01");
        assert_eq!(whole.finish_parts().cut_at, None);
    }
}
