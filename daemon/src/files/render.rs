//! What `ssh_view` shows of a file, from its bytes: line counting (a last line without a newline
//! counts), a line range gathered chunk by chunk as the file streams in (clamped at the end of the
//! file), a byte cut-off that never splits a UTF-8 character, and `cat -n` style line numbers.
//! Bytes are never decoded here, so CRLF and invalid UTF-8 pass through unchanged.

/// Lines in `content`: its newlines, plus one for a last line without a newline.
pub fn count_lines(content: &[u8]) -> u64 {
    let newlines = memchr::memchr_iter(b'\n', content).count() as u64;
    newlines + u64::from(content.last().is_some_and(|&b| b != b'\n'))
}

/// The length of the longest prefix of `bytes` of at most `max` bytes that does not end inside
/// a UTF-8 character. `bytes` should extend up to 3 bytes past `max` when the file does, so a
/// character crossing the cut can be recognised. Bytes that are not valid UTF-8 are cut at `max`.
pub fn char_boundary_cut(bytes: &[u8], max: usize) -> usize {
    if bytes.len() <= max {
        return bytes.len();
    }
    let is_continuation = |b: u8| b & 0xC0 == 0x80;
    let mut start = max;
    while start > 0 && max - start < 3 && is_continuation(bytes[start]) {
        start -= 1;
    }
    if start == max {
        return max;
    }
    let len = match bytes[start] {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return max,
    };
    let end = start + len;
    if end > max && end <= bytes.len() && std::str::from_utf8(&bytes[start..end]).is_ok() {
        start
    } else {
        max
    }
}

/// `content` with each line prefixed by its number, right-aligned in six columns and a tab, as
/// `cat -n` prints it; the first line is `first`.
pub fn number_lines(content: &[u8], first: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + content.len() / 8 + 8);
    for (n, line) in (first..).zip(content.split_inclusive(|&b| b == b'\n')) {
        out.extend_from_slice(format!("{n:>6}\t").as_bytes());
        out.extend_from_slice(line);
    }
    out
}

/// Lines `start..=end` of a file (1-based; `end` None for the end of the file), gathered from
/// its chunks in order, without holding the lines outside the range.
#[derive(Debug)]
pub struct LineRange {
    start: u64,
    end: Option<u64>,
    /// Newlines seen so far; the line being read is `newlines + 1`.
    newlines: u64,
    last_byte: Option<u8>,
    kept: Vec<u8>,
}

/// A finished [`LineRange`].
#[derive(Debug, PartialEq, Eq)]
pub struct RangeView {
    pub content: Vec<u8>,
    /// Lines in the file; None when the rest of the file was not read.
    pub total_lines: Option<u64>,
    /// The last line shown: the requested end, clamped to the end of the file.
    pub end_line: u64,
}

impl LineRange {
    pub fn new(start: u64, end: Option<u64>) -> Self {
        Self {
            start: start.max(1),
            end,
            newlines: 0,
            last_byte: None,
            kept: Vec::new(),
        }
    }

    fn wants(&self, line: u64) -> bool {
        line >= self.start && self.end.is_none_or(|end| line <= end)
    }

    /// True once every wanted line has been seen (what follows only adds to `total_lines`).
    pub fn past_end(&self) -> bool {
        self.end.is_some_and(|end| self.newlines >= end)
    }

    /// Bytes of the range gathered so far.
    pub fn kept_len(&self) -> usize {
        self.kept.len()
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        let Some(&last) = chunk.last() else { return };
        let mut from = 0;
        for nl in memchr::memchr_iter(b'\n', chunk) {
            if self.wants(self.newlines + 1) {
                self.kept.extend_from_slice(&chunk[from..=nl]);
            }
            self.newlines += 1;
            from = nl + 1;
        }
        if from < chunk.len() && self.wants(self.newlines + 1) {
            self.kept.extend_from_slice(&chunk[from..]);
        }
        self.last_byte = Some(last);
    }

    /// The range, after the whole file (`whole`) or after the wanted lines only.
    pub fn finish(self, whole: bool) -> RangeView {
        let seen = self.newlines + u64::from(self.last_byte.is_some_and(|b| b != b'\n'));
        let end_line = self.end.map_or(seen, |end| end.min(seen));
        RangeView {
            content: self.kept,
            total_lines: whole.then_some(seen),
            end_line,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(content: &[u8], start: u64, end: Option<u64>, chunk: usize) -> RangeView {
        let mut r = LineRange::new(start, end);
        for c in content.chunks(chunk) {
            r.feed(c);
        }
        r.finish(true)
    }

    #[test]
    fn a_last_line_without_newline_counts() {
        assert_eq!(count_lines(b""), 0);
        assert_eq!(count_lines(b"a"), 1);
        assert_eq!(count_lines(b"a\n"), 1);
        assert_eq!(count_lines(b"a\nb"), 2);
        assert_eq!(count_lines(b"\n\n"), 2);
        assert_eq!(count_lines(b"a\r\nb\r\n"), 2);
    }

    #[test]
    fn a_range_is_the_same_whatever_the_chunking() {
        let text: Vec<u8> = (1..=10)
            .flat_map(|n| format!("{n}\n").into_bytes())
            .collect();
        for chunk in [1, 2, 3, 7, 100] {
            let v = range(&text, 3, Some(5), chunk);
            assert_eq!(v.content, b"3\n4\n5\n", "chunk {chunk}");
            assert_eq!((v.total_lines, v.end_line), (Some(10), 5));
            let v = range(&text, 3, None, chunk);
            assert_eq!(v.content, b"3\n4\n5\n6\n7\n8\n9\n10\n");
            assert_eq!((v.total_lines, v.end_line), (Some(10), 10));
        }
    }

    #[test]
    fn an_end_past_the_file_is_clamped() {
        let v = range(b"a\nb\nc", 2, Some(99), 4);
        assert_eq!(v.content, b"b\nc");
        assert_eq!((v.total_lines, v.end_line), (Some(3), 3));
    }

    #[test]
    fn a_start_past_the_file_shows_nothing() {
        let v = range(b"a\nb\n", 5, Some(9), 4);
        assert_eq!(v.content, b"");
        assert_eq!((v.total_lines, v.end_line), (Some(2), 2));
        let v = range(b"", 1, None, 4);
        assert_eq!(
            (v.content.len(), v.total_lines, v.end_line),
            (0, Some(0), 0)
        );
    }

    #[test]
    fn a_range_keeps_crlf_and_invalid_utf8() {
        let v = range(b"one\r\ncaf\xe9\r\nthree\r\n", 2, Some(2), 3);
        assert_eq!(v.content, b"caf\xe9\r\n");
    }

    #[test]
    fn past_end_says_when_the_wanted_lines_are_all_in() {
        let mut r = LineRange::new(1, Some(2));
        r.feed(b"a\nb");
        assert!(!r.past_end());
        r.feed(b"\nc\n");
        assert!(r.past_end());
        assert!(!LineRange::new(1, None).past_end());
    }

    #[test]
    fn the_cut_never_splits_a_character() {
        let s = "ab\u{e9}\u{20ac}\u{1f600}z".as_bytes(); // a b [C3 A9] [E2 82 AC] [F0 9F 98 80] z
        let cuts: Vec<usize> = (0..=s.len()).map(|m| char_boundary_cut(s, m)).collect();
        assert_eq!(cuts, [0, 1, 2, 2, 4, 4, 4, 7, 7, 7, 7, 11, 12]);
        for (m, &c) in cuts.iter().enumerate() {
            assert!(std::str::from_utf8(&s[..c]).is_ok(), "cut at {m}");
        }
    }

    #[test]
    fn the_cut_needs_only_three_bytes_past_max() {
        let s = "xxx\u{1f600}".as_bytes();
        assert_eq!(char_boundary_cut(&s[..7], 4), 3);
        assert_eq!(
            char_boundary_cut(&s[..5], 4),
            4,
            "the character cannot be checked"
        );
    }

    #[test]
    fn invalid_utf8_is_cut_at_max() {
        assert_eq!(char_boundary_cut(b"\xff\xfe\xfd\xfc", 2), 2);
        assert_eq!(char_boundary_cut(b"a\x80\x80\x80\x80", 3), 3);
        assert_eq!(char_boundary_cut(b"caf\xe9 ok", 4), 4);
        // A lead byte whose continuation is missing is not a character to keep whole.
        assert_eq!(char_boundary_cut(b"a\xe2\x82z", 2), 2);
    }

    #[test]
    fn line_numbers_look_like_cat_n() {
        assert_eq!(number_lines(b"a\nb", 1), b"     1\ta\n     2\tb");
        assert_eq!(number_lines(b"x\r\n", 41), b"    41\tx\r\n");
        assert_eq!(number_lines(b"", 1), b"");
        assert_eq!(number_lines(b"\n\n", 9), b"     9\t\n    10\t\n");
    }
}
