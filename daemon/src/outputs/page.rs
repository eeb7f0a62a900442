//! Pages of a kept output: what a read asks for ([`PageRequest`]), what it gets ([`Page`]), and
//! where a page ends ([`fit`]). Pages are counted in bytes, so offsets are exact for any data; a
//! page of text never ends inside a UTF-8 character, and its text (as JSON escapes it) fits the
//! reader's character budget. A page holding bytes that are not UTF-8 comes whole as raw bytes,
//! which the shim sends as base64.

use super::{Stream, StreamKept};

/// A page when the reader does not say.
pub const DEFAULT_PAGE_BYTES: u64 = 32 * 1024;
/// The largest page a reader may ask for.
pub const MAX_PAGE_BYTES: u64 = 16 << 20;
/// The characters a default page's text may take: with the page's other fields, a result stays
/// within the 50,000 characters a client shows.
pub const DEFAULT_PAGE_CHARS: usize = 48_000;

#[derive(Debug, Clone)]
pub struct PageRequest {
    pub output_id: String,
    pub stream: Stream,
    /// Where to start; `None` continues where this reader's last page ended.
    pub offset: Option<u64>,
    pub max_bytes: u64,
    /// The most characters the page's data may take as JSON text (base64 for raw bytes).
    pub max_chars: usize,
    pub reader: String,
}

impl PageRequest {
    /// The character budget of a page of `max_bytes`: the default's, or enough for the bytes
    /// asked for even as base64.
    pub fn chars_for(max_bytes: u64) -> usize {
        DEFAULT_PAGE_CHARS.max((max_bytes as usize).saturating_mul(4) / 3 + 8)
    }
}

/// How a page's bytes are meant to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 text.
    Utf8,
    /// Raw bytes (sent as base64).
    Base64,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Self::Utf8 => "utf-8",
            Self::Base64 => "base64",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Page {
    pub data: Vec<u8>,
    pub encoding: Encoding,
    pub offset: u64,
    pub next_offset: u64,
    pub eof: bool,
    /// What was kept of the stream.
    pub stream: StreamKept,
}

/// Characters `c` takes in JSON text as serde_json writes it.
pub fn json_chars(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        // A client counting UTF-16 units sees two for a character past the BMP.
        c => c.len_utf16(),
    }
}

/// Where a page of `bytes` ends and how it is sent: the UTF-8 text that fits in `max_chars`, or,
/// when the bytes are not UTF-8, as many raw bytes as fit as base64. `at_end`: `bytes` run to the
/// end of a finished output, so an incomplete character there is not waiting for its rest.
pub fn fit(bytes: &[u8], at_end: bool, max_chars: usize) -> (usize, Encoding) {
    let text = match std::str::from_utf8(bytes) {
        Ok(s) => Some(s),
        // A character cut by the page's end comes whole on the next page.
        Err(e) if e.error_len().is_none() && !at_end && e.valid_up_to() > 0 => {
            std::str::from_utf8(&bytes[..e.valid_up_to()]).ok()
        }
        Err(_) => None,
    };
    match text {
        Some(s) => (json_prefix(s.as_bytes(), max_chars), Encoding::Utf8),
        None => (bytes.len().min(max_chars / 4 * 3), Encoding::Base64),
    }
}

/// The length of the longest prefix of the UTF-8 text `bytes` whose JSON text takes at most
/// `max_chars`; the cut is always before a character's first byte. Bytes are counted, not
/// decoded (a page may hold megabytes): ASCII by its escape, a character's leading byte as the
/// UTF-16 units of the character, its continuation bytes as nothing (so a stray one, which a
/// lossy decoder turns into U+FFFD, is counted low by one). Session reads use it too.
pub fn json_prefix(bytes: &[u8], max_chars: usize) -> usize {
    let (mut chars, mut at) = (0, 0);
    while at < bytes.len() {
        // Eight bytes at once while they are plain ASCII that JSON keeps as it is (most output).
        if let Some(word) = bytes.get(at..at + 8)
            && chars + 8 <= max_chars
        {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            if plain_ascii(u64::from_le_bytes(w)) {
                chars += 8;
                at += 8;
                continue;
            }
        }
        chars += byte_chars(bytes[at]);
        if chars > max_chars {
            return at;
        }
        at += 1;
    }
    bytes.len()
}

/// What byte `b` adds to the JSON text's characters (see [`json_prefix`]).
fn byte_chars(b: u8) -> usize {
    match b {
        b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
        0..0x20 => 6,
        0x20..0x80 => 1,
        // A continuation byte: counted with its leading byte.
        0x80..0xc0 => 0,
        // A four-byte character is two UTF-16 units.
        0xf0.. => 2,
        _ => 1,
    }
}

/// Where the longest end of the UTF-8 text `bytes` whose JSON text takes at most `max_chars`
/// starts (always at a character's first byte): for output of which the end is kept.
pub fn json_suffix_start(bytes: &[u8], max_chars: usize) -> usize {
    let mut chars = 0;
    for at in (0..bytes.len()).rev() {
        chars += byte_chars(bytes[at]);
        if chars > max_chars {
            // The character starting here does not fit: the end starts at the next one.
            let mut next = at + 1;
            while bytes.get(next).is_some_and(|b| (0x80..0xc0).contains(b)) {
                next += 1;
            }
            return next;
        }
    }
    0
}

/// Whether all eight bytes of `w` are printable ASCII other than `"` and `\\` (one JSON
/// character each).
fn plain_ascii(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS != 0;
    let non_ascii = w & HIGHS != 0;
    // A byte below 0x20 (any byte here is below 0x80).
    let control = w.wrapping_sub(0x20 * ONES) & !w & HIGHS != 0;
    !non_ascii
        && !control
        && !has_zero(w ^ (b'"' as u64 * ONES))
        && !has_zero(w ^ (b'\\' as u64 * ONES))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fits_the_budget_as_json_counts_it() {
        assert_eq!(fit(b"abcdef", false, 4), (4, Encoding::Utf8));
        // A newline takes two characters as JSON, a control character six.
        assert_eq!(fit(b"a\nb", false, 3), (2, Encoding::Utf8));
        assert_eq!(fit(b"\x01\x01", false, 11), (1, Encoding::Utf8));
        assert_eq!(fit("é€".as_bytes(), false, 10), (5, Encoding::Utf8));
    }

    #[test]
    fn a_character_cut_by_the_page_waits_for_the_next_page() {
        let euro = "a€".as_bytes();
        assert_eq!(fit(&euro[..3], false, 100), (1, Encoding::Utf8));
        // At the end of a finished output the cut character will never complete: raw bytes.
        assert_eq!(fit(&euro[..3], true, 100), (3, Encoding::Base64));
        // A page of one byte of a character is sent raw rather than empty.
        assert_eq!(fit(&euro[1..2], false, 100), (1, Encoding::Base64));
    }

    #[test]
    fn counting_by_bytes_agrees_with_counting_by_characters() {
        let mixed = "aé€😀\"\\\n\u{1}x".repeat(50);
        let mostly_plain = "plain words of ascii, 0123456789!é\tx".repeat(20);
        for (s, max) in (0..300).flat_map(|m| [(&mixed, m), (&mostly_plain, m)]) {
            let s = s.as_str();
            let by_chars = s
                .char_indices()
                .scan(0, |n, (at, c)| {
                    *n += json_chars(c);
                    Some((at, *n))
                })
                .find(|(_, n)| *n > max)
                .map_or(s.len(), |(at, _)| at);
            assert_eq!(json_prefix(s.as_bytes(), max), by_chars, "{max}");
        }
    }

    #[test]
    fn the_end_that_fits_starts_on_a_character() {
        let s = "aé€😀\"\n".repeat(20);
        for max in 0..150 {
            let start = json_suffix_start(s.as_bytes(), max);
            assert!(s.is_char_boundary(start), "{max}");
            let kept: usize = s[start..].chars().map(json_chars).sum();
            assert!(kept <= max, "{max}: {kept}");
            // One more character would not fit.
            if let Some(c) = s[..start].chars().next_back() {
                assert!(kept + json_chars(c) > max, "{max}");
            }
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_come_raw_within_the_budget() {
        let bin = [0xffu8, 0, 1, 2, 3, 4, 5, 6, 7];
        assert_eq!(fit(&bin, false, 100), (9, Encoding::Base64));
        assert_eq!(fit(&bin, false, 8), (6, Encoding::Base64));
    }

    #[test]
    fn the_default_budget_holds_a_default_page_even_as_base64() {
        assert_eq!(
            PageRequest::chars_for(DEFAULT_PAGE_BYTES),
            DEFAULT_PAGE_CHARS
        );
        let big = PageRequest::chars_for(MAX_PAGE_BYTES);
        assert!(big / 4 * 3 >= MAX_PAGE_BYTES as usize);
    }
}
