//! What `ssh_view` shows of a file, from its bytes: line counting (a last line without a newline
//! counts), a line range gathered chunk by chunk as the file streams in (clamped at the end of the
//! file), a byte cut-off that never splits a UTF-8 character, and `cat -n` style line numbers.
//! Bytes are never decoded here, so CRLF and invalid UTF-8 pass through unchanged.
//!
//! Numbering adds seven bytes a line, so a file of empty lines grows eightfold: [`Numbered`]
//! numbers as the bytes stream in and stops at a cap on what it outputs, between two lines.

/// Lines in `content`: its newlines, plus one for a last line without a newline.
pub fn count_lines(content: &[u8]) -> u64 {
    let newlines = memchr::memchr_iter(b'\n', content).count() as u64;
    newlines + u64::from(content.last().is_some_and(|&b| b != b'\n'))
}

/// Lines counted as the bytes stream in, as [`count_lines`] counts them in one piece.
#[derive(Debug, Default)]
pub struct LineCount {
    newlines: u64,
    last_byte: Option<u8>,
}

impl LineCount {
    pub fn feed(&mut self, chunk: &[u8]) {
        self.newlines += memchr::memchr_iter(b'\n', chunk).count() as u64;
        if let Some(&last) = chunk.last() {
            self.last_byte = Some(last);
        }
    }

    pub fn total(&self) -> u64 {
        self.newlines + u64::from(self.last_byte.is_some_and(|b| b != b'\n'))
    }
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

/// The width `cat -n` gives a line number, and the tab after it.
fn number_prefix(out: &mut Vec<u8>, n: u64) {
    use std::io::Write;
    let _ = write!(out, "{n:>6}\t");
}

/// `content` with each line prefixed by its number, right-aligned in six columns and a tab, as
/// `cat -n` prints it; the first line is `first`. Unbounded: for short content only.
#[cfg(test)]
pub fn number_lines(content: &[u8], first: u64) -> Vec<u8> {
    let mut n = Numbered::new(first, usize::MAX);
    n.feed(content);
    n.finish().content
}

/// Lines numbered as `cat -n` does, fed in pieces of any size, keeping at most `cap` bytes of
/// output. The cut falls between two numbered lines; only a first line longer than the cap is
/// cut inside (on a character boundary).
#[derive(Debug)]
pub struct Numbered {
    next: u64,
    cap: usize,
    out: Vec<u8>,
    /// Where the numbered line being fed starts in `out`.
    line_start: usize,
    at_line_start: bool,
    /// The cap was reached: what comes after is dropped.
    cut: bool,
}

/// A finished [`Numbered`].
#[derive(Debug, PartialEq, Eq)]
pub struct NumberedView {
    pub content: Vec<u8>,
    /// The output stopped at the cap before the input ended.
    pub cut: bool,
    /// The last line shown whole (`first - 1` when none is).
    pub last_line: u64,
}

impl Numbered {
    pub fn new(first: u64, cap: usize) -> Self {
        Self {
            next: first,
            cap,
            out: Vec::new(),
            line_start: 0,
            at_line_start: true,
            cut: false,
        }
    }

    pub fn is_cut(&self) -> bool {
        self.cut
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        for piece in bytes.split_inclusive(|&b| b == b'\n') {
            if self.cut {
                return;
            }
            if self.at_line_start {
                self.line_start = self.out.len();
                number_prefix(&mut self.out, self.next);
            }
            if self.out.len().saturating_add(piece.len()) > self.cap {
                self.cut_at_cap(piece);
                return;
            }
            self.out.extend_from_slice(piece);
            self.at_line_start = piece.last() == Some(&b'\n');
            if self.at_line_start {
                self.next += 1;
            }
        }
    }

    /// `piece` does not fit: end the output with the last whole line, or, when the first line
    /// alone is longer than the cap, with as much of it as fits.
    fn cut_at_cap(&mut self, piece: &[u8]) {
        self.cut = true;
        if self.line_start > 0 {
            self.out.truncate(self.line_start);
            return;
        }
        let room = self.cap.saturating_sub(self.out.len());
        let keep = char_boundary_cut(piece, room);
        self.out.extend_from_slice(&piece[..keep]);
    }

    pub fn finish(self) -> NumberedView {
        // A last line without a newline is shown whole unless the cap cut it.
        let open_line = !self.at_line_start && !self.cut;
        NumberedView {
            last_line: self.next - 1 + u64::from(open_line),
            cut: self.cut,
            content: self.out,
        }
    }
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
    kept: Kept,
}

/// What a [`LineRange`] keeps of its lines: the bytes, or the lines numbered up to a cap.
#[derive(Debug)]
enum Kept {
    Plain(Vec<u8>),
    Numbered(Numbered),
}

impl Kept {
    fn extend(&mut self, bytes: &[u8]) {
        match self {
            Self::Plain(v) => v.extend_from_slice(bytes),
            Self::Numbered(n) => n.feed(bytes),
        }
    }
}

/// A finished [`LineRange`].
#[derive(Debug, PartialEq, Eq)]
pub struct RangeView {
    pub content: Vec<u8>,
    /// Lines in the file; None when the rest of the file was not read.
    pub total_lines: Option<u64>,
    /// The last line shown: the requested end, clamped to the end of the file (and to the
    /// last whole line numbered, when numbering reached its cap).
    pub end_line: u64,
    /// Numbering reached its cap: lines after `end_line` were left out.
    pub cut: bool,
}

impl LineRange {
    pub fn new(start: u64, end: Option<u64>) -> Self {
        Self {
            start: start.max(1),
            end,
            newlines: 0,
            last_byte: None,
            kept: Kept::Plain(Vec::new()),
        }
    }

    /// A range whose lines are numbered as `cat -n` does, keeping at most `cap` bytes of output.
    pub fn numbered(start: u64, end: Option<u64>, cap: usize) -> Self {
        let mut range = Self::new(start, end);
        range.kept = Kept::Numbered(Numbered::new(range.start, cap));
        range
    }

    fn wants(&self, line: u64) -> bool {
        line >= self.start && self.end.is_none_or(|end| line <= end)
    }

    /// True once every wanted line has been seen, or numbering reached its cap (what follows
    /// only adds to `total_lines`).
    pub fn past_end(&self) -> bool {
        self.end.is_some_and(|end| self.newlines >= end)
            || matches!(&self.kept, Kept::Numbered(n) if n.is_cut())
    }

    /// Bytes of the range gathered so far (numbered output is capped by itself).
    pub fn kept_len(&self) -> usize {
        match &self.kept {
            Kept::Plain(v) => v.len(),
            Kept::Numbered(_) => 0,
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        let Some(&last) = chunk.last() else { return };
        let mut from = 0;
        for nl in memchr::memchr_iter(b'\n', chunk) {
            if self.wants(self.newlines + 1) {
                self.kept.extend(&chunk[from..=nl]);
            }
            self.newlines += 1;
            from = nl + 1;
        }
        if from < chunk.len() && self.wants(self.newlines + 1) {
            self.kept.extend(&chunk[from..]);
        }
        self.last_byte = Some(last);
    }

    /// The range, after the whole file (`whole`) or after the wanted lines only.
    pub fn finish(self, whole: bool) -> RangeView {
        let seen = self.newlines + u64::from(self.last_byte.is_some_and(|b| b != b'\n'));
        let end_line = self.end.map_or(seen, |end| end.min(seen));
        let (content, end_line, cut) = match self.kept {
            Kept::Plain(v) => (v, end_line, false),
            Kept::Numbered(n) => {
                let n = n.finish();
                let end_line = if n.cut { n.last_line } else { end_line };
                (n.content, end_line, n.cut)
            }
        };
        RangeView {
            content,
            total_lines: whole.then_some(seen),
            end_line,
            cut,
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
        for text in [&b""[..], b"a", b"a\n", b"a\nb", b"\n\n"] {
            let mut c = LineCount::default();
            for piece in text.chunks(1) {
                c.feed(piece);
            }
            assert_eq!(c.total(), count_lines(text), "{text:?}");
        }
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

    #[test]
    fn numbering_stops_at_the_cap_between_lines() {
        let mut n = Numbered::new(1, 20);
        n.feed(b"a\nb");
        n.feed(b"\nc\n");
        let v = n.finish();
        // "     1\ta\n" and "     2\tb\n" are 9 bytes each; the third would pass 20.
        assert_eq!(v.content, b"     1\ta\n     2\tb\n");
        assert_eq!((v.cut, v.last_line), (true, 2));
        let mut n = Numbered::new(5, 100);
        n.feed(b"x\ny");
        assert_eq!(
            n.finish(),
            NumberedView {
                content: b"     5\tx\n     6\ty".to_vec(),
                cut: false,
                last_line: 6
            }
        );
        assert_eq!(Numbered::new(3, 9).finish().last_line, 2, "no line shown");
    }

    #[test]
    fn a_first_line_longer_than_the_cap_is_cut_on_a_character() {
        let mut n = Numbered::new(1, 10);
        n.feed("ab\u{20ac}\u{20ac}".as_bytes());
        let v = n.finish();
        assert_eq!(v.content, "     1\tab".as_bytes());
        assert_eq!((v.cut, v.last_line), (true, 0));
    }

    #[test]
    fn empty_lines_are_numbered_within_the_cap_whatever_the_chunks() {
        let content = b"\n".repeat(10_000);
        for chunk in [1, 7, 4096] {
            let mut n = Numbered::new(1, 1000);
            for c in content.chunks(chunk) {
                n.feed(c);
            }
            let v = n.finish();
            assert!(v.content.len() <= 1000 && v.cut, "chunk {chunk}");
            assert_eq!(v.last_line, 1000 / 8, "chunk {chunk}");
            assert!(v.content.ends_with(b"   125\t\n"));
        }
    }

    #[test]
    fn a_numbered_range_reports_the_last_line_it_could_show() {
        let text: Vec<u8> = (1..=100)
            .flat_map(|n| format!("{n}\n").into_bytes())
            .collect();
        // Four numbered lines of 10 bytes would be 40, one more than the cap.
        let mut r = LineRange::numbered(10, Some(90), 39);
        for c in text.chunks(5) {
            r.feed(c);
        }
        assert!(r.past_end());
        let v = r.finish(true);
        assert_eq!(v.content, b"    10\t10\n    11\t11\n    12\t12\n");
        assert_eq!((v.end_line, v.cut, v.total_lines), (12, true, Some(100)));
        let mut r = LineRange::numbered(99, None, 1 << 20);
        r.feed(&text);
        let v = r.finish(true);
        assert_eq!(v.content, b"    99\t99\n   100\t100\n");
        assert_eq!((v.end_line, v.cut), (100, false));
    }
}
