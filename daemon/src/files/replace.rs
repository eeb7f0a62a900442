//! The edit engine of `ssh_edit`, on bytes: each edit's `old_str` is found in the content as it
//! stands after the earlier edits of the same call, and replaced. The strings are UTF-8, matched
//! as bytes, so bytes outside the edited spans (invalid UTF-8 such as 0xE9 or 0xFF, CRLF) are kept
//! exactly. Occurrences are counted without overlap, like Python's `str.count`, which the seed
//! used. Errors carry the seed's messages, plus a hint where one helps: `replace_all` for several
//! matches, and line endings when the file's are CRLF and `old_str`'s are not.
//!
//! The size of each result is worked out from the count of matches before anything is built,
//! and an edit whose result would pass the file limit is refused with the figure: a short
//! `old_str` replaced everywhere by a long `new_str` would otherwise ask for gigabytes.

use memchr::memmem;

/// One replacement as the agent asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub old_str: String,
    pub new_str: String,
    /// Replace every occurrence instead of requiring exactly one.
    pub replace_all: bool,
}

/// The content after every edit, and what was done.
#[derive(Debug, PartialEq, Eq)]
pub struct Applied {
    pub content: Vec<u8>,
    pub edits_applied: u32,
    /// Occurrences replaced, over all edits (one per edit unless `replace_all`).
    pub replacements: u64,
}

/// Why a call's edits cannot all be applied; nothing is written then.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error(
        "'edits[{index}].old_str' was not found in the file (checked after applying any earlier edits in this call).{}",
        if *crlf { " The file's lines end in \\r\\n and old_str's in \\n alone." } else { "" }
    )]
    NotFound { index: usize, crlf: bool },
    #[error(
        "'edits[{index}].old_str' matches {count} locations in the file; it must match exactly one. Include more surrounding context to make it unique, or set replace_all."
    )]
    Ambiguous { index: usize, count: usize },
    #[error(
        "'edits[{index}]' would make the file {projected} bytes ({count} replacements of {old_len} bytes by {new_len} bytes), more than the {} MiB an edit can write; nothing was written. Replace fewer occurrences or use a shorter new_str.",
        limit >> 20
    )]
    TooLarge {
        index: usize,
        count: usize,
        old_len: usize,
        new_len: usize,
        projected: u64,
        limit: u64,
    },
}

/// True when `old` has a bare `\n` while `content` has CRLF line endings: the likely reason
/// it was not found.
fn crlf_mismatch(content: &[u8], old: &[u8]) -> bool {
    let bare_newline = old
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || old[i - 1] != b'\r'));
    bare_newline && memmem::find(content, b"\r\n").is_some()
}

/// How many non-overlapping occurrences of `needle` there are, counted left to right without
/// keeping their offsets (a one-byte needle can match millions of times).
fn count(haystack: &[u8], needle: &[u8]) -> usize {
    // An empty needle is refused at validation; treat it as matching nowhere rather than everywhere.
    if needle.is_empty() {
        return 0;
    }
    let finder = memmem::Finder::new(needle);
    let mut found = 0;
    let mut from = 0;
    while let Some(at) = finder.find(&haystack[from..]) {
        found += 1;
        from += at + needle.len();
    }
    found
}

/// The length of `content` with `count` occurrences of `old_len` bytes replaced by `new_len`
/// bytes, without building it (saturating: only its comparison with a limit matters).
fn projected_len(content_len: usize, count: usize, old_len: usize, new_len: usize) -> u64 {
    let kept = (content_len as u64).saturating_sub((count as u64).saturating_mul(old_len as u64));
    kept.saturating_add((count as u64).saturating_mul(new_len as u64))
}

/// `content` with `new` in place of every non-overlapping `old`, built into a buffer of
/// exactly `len` bytes (the projected length).
fn splice(content: &[u8], old: &[u8], new: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let finder = memmem::Finder::new(old);
    let mut from = 0;
    while let Some(at) = finder.find(&content[from..]) {
        out.extend_from_slice(&content[from..from + at]);
        out.extend_from_slice(new);
        from += at + old.len();
    }
    out.extend_from_slice(&content[from..]);
    out
}

/// Applies `edits` in order, each to the result of the ones before it. No intermediate result
/// may be longer than `max_len` bytes: that is checked from the count of matches before the
/// result is built.
pub fn apply(content: &[u8], edits: &[Edit], max_len: u64) -> Result<Applied, EditError> {
    let mut current = content.to_vec();
    let mut replacements = 0u64;
    for (index, edit) in edits.iter().enumerate() {
        let (old, new) = (edit.old_str.as_bytes(), edit.new_str.as_bytes());
        let found = count(&current, old);
        match found {
            0 => {
                return Err(EditError::NotFound {
                    index,
                    crlf: crlf_mismatch(&current, old),
                });
            }
            1 => {}
            count if !edit.replace_all => return Err(EditError::Ambiguous { index, count }),
            _ => {}
        }
        let projected = projected_len(current.len(), found, old.len(), new.len());
        if projected > max_len {
            return Err(EditError::TooLarge {
                index,
                count: found,
                old_len: old.len(),
                new_len: new.len(),
                projected,
                limit: max_len,
            });
        }
        // projected <= max_len, which fits in memory by the caller's choice.
        current = splice(&current, old, new, projected as usize);
        replacements += found as u64;
    }
    Ok(Applied {
        content: current,
        edits_applied: edits.len() as u32,
        replacements,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Far above what these tests write.
    const LIMIT: u64 = 1 << 20;

    fn apply(content: &[u8], edits: &[Edit]) -> Result<Applied, EditError> {
        super::apply(content, edits, LIMIT)
    }

    fn edit(old: &str, new: &str) -> Edit {
        Edit {
            old_str: old.into(),
            new_str: new.into(),
            replace_all: false,
        }
    }

    fn all(old: &str, new: &str) -> Edit {
        Edit {
            replace_all: true,
            ..edit(old, new)
        }
    }

    #[test]
    fn a_unique_match_is_replaced() {
        let a = apply(b"say hi\n", &[edit("hi", "hello")]).unwrap();
        assert_eq!(a.content, b"say hello\n");
        assert_eq!((a.edits_applied, a.replacements), (1, 1));
    }

    #[test]
    fn edits_apply_in_order_to_the_updated_content() {
        let a = apply(
            b"alpha beta\n",
            &[
                edit("alpha", "one"),
                edit("beta", "two"),
                edit("one two", "done"),
            ],
        )
        .unwrap();
        assert_eq!(a.content, b"done\n");
        assert_eq!((a.edits_applied, a.replacements), (3, 3));
    }

    #[test]
    fn no_match_names_the_edit_with_the_seed_message() {
        let e = apply(b"abc", &[edit("a", "x"), edit("zzz", "y")]).unwrap_err();
        assert_eq!(
            e,
            EditError::NotFound {
                index: 1,
                crlf: false
            }
        );
        assert_eq!(
            e.to_string(),
            "'edits[1].old_str' was not found in the file (checked after applying any earlier edits in this call)."
        );
    }

    #[test]
    fn a_match_removed_by_an_earlier_edit_is_not_found() {
        let e = apply(b"abc", &[edit("abc", "x"), edit("b", "y")]).unwrap_err();
        assert_eq!(
            e,
            EditError::NotFound {
                index: 1,
                crlf: false
            }
        );
    }

    #[test]
    fn two_matches_are_refused_with_the_count() {
        let e = apply(b"x = 1\nx = 1\n", &[edit("x = 1", "x = 2")]).unwrap_err();
        assert_eq!(e, EditError::Ambiguous { index: 0, count: 2 });
        assert_eq!(
            e.to_string(),
            "'edits[0].old_str' matches 2 locations in the file; it must match exactly one. Include more surrounding context to make it unique, or set replace_all."
        );
    }

    #[test]
    fn a_miss_on_a_crlf_file_says_why() {
        let e = apply(b"a\r\nb\r\n", &[edit("a\nb", "x")]).unwrap_err();
        assert_eq!(
            e,
            EditError::NotFound {
                index: 0,
                crlf: true
            }
        );
        assert!(e.to_string().ends_with(
            "(checked after applying any earlier edits in this call). The file's lines end in \\r\\n and old_str's in \\n alone."
        ), "{e}");
        // No hint when old_str has no bare newline, or the file no CRLF.
        let e = apply(b"a\r\nb", &[edit("a\r\nc", "x")]).unwrap_err();
        assert_eq!(
            e,
            EditError::NotFound {
                index: 0,
                crlf: false
            }
        );
        let e = apply(b"a\nb", &[edit("a\nc", "x")]).unwrap_err();
        assert_eq!(
            e,
            EditError::NotFound {
                index: 0,
                crlf: false
            }
        );
    }

    #[test]
    fn occurrences_do_not_overlap() {
        // "aa" occurs twice without overlap in "aaaa" (three times with overlap), as str.count says.
        assert_eq!(count(b"aaaa", b"aa"), 2);
        assert_eq!(count(b"aaa", b"aa"), 1);
        let e = apply(b"aaa", &[edit("aa", "b")]).unwrap();
        assert_eq!(e.content, b"ba");
        assert_eq!(
            apply(b"aaaa", &[edit("aa", "b")]).unwrap_err(),
            EditError::Ambiguous { index: 0, count: 2 }
        );
    }

    #[test]
    fn replace_all_replaces_every_occurrence_and_counts_them() {
        let a = apply(b"a-a-a-aa", &[all("a", "bb")]).unwrap();
        assert_eq!(a.content, b"bb-bb-bb-bbbb");
        assert_eq!((a.edits_applied, a.replacements), (1, 5));
        let a = apply(b"aaaa", &[all("aa", "a"), edit("aa", "z")]).unwrap();
        assert_eq!(a.content, b"z");
        assert_eq!(a.replacements, 3);
    }

    #[test]
    fn replace_all_still_needs_one_match() {
        let e = apply(b"abc", &[all("q", "x")]).unwrap_err();
        assert_eq!(
            e,
            EditError::NotFound {
                index: 0,
                crlf: false
            }
        );
    }

    #[test]
    fn bytes_outside_the_span_are_kept_even_when_not_utf8() {
        let content = b"caf\xe9\r\nname = old\r\n\xff\xfe end";
        let a = apply(content, &[edit("old", "new \u{e9}")]).unwrap();
        assert_eq!(a.content, b"caf\xe9\r\nname = new \xc3\xa9\r\n\xff\xfe end");
    }

    #[test]
    fn a_replacement_can_grow_shrink_or_vanish() {
        assert_eq!(apply(b"abc", &[edit("b", "")]).unwrap().content, b"ac");
        assert_eq!(apply(b"abc", &[edit("abc", "")]).unwrap().content, b"");
        assert_eq!(
            apply(b"abc", &[edit("b", "BBBB")]).unwrap().content,
            b"aBBBBc"
        );
        // The seed allowed old_str == new_str; so does this.
        assert_eq!(apply(b"abc", &[edit("b", "b")]).unwrap().content, b"abc");
    }

    #[test]
    fn a_multibyte_needle_matches_only_whole_characters() {
        // "é" is C3 A9; a lone 0xE9 (Latin-1 é) does not match it.
        let e = apply(b"caf\xe9", &[edit("\u{e9}", "e")]).unwrap_err();
        assert_eq!(
            e,
            EditError::NotFound {
                index: 0,
                crlf: false
            }
        );
        let a = apply("café".as_bytes(), &[edit("\u{e9}", "e")]).unwrap();
        assert_eq!(a.content, b"cafe");
    }

    #[test]
    fn a_result_over_the_limit_is_refused_before_it_is_built() {
        // 1 MiB of "a\n" with every "a" becoming 1 KiB would be 512 MiB.
        let content = b"a\n".repeat(512 * 1024);
        let big = "x".repeat(1024);
        let e = super::apply(&content, &[all("a", &big)], 32 << 20).unwrap_err();
        assert_eq!(
            e,
            EditError::TooLarge {
                index: 0,
                count: 524_288,
                old_len: 1,
                new_len: 1024,
                projected: 537_395_200,
                limit: 32 << 20
            }
        );
        assert_eq!(
            e.to_string(),
            "'edits[0]' would make the file 537395200 bytes (524288 replacements of 1 bytes by 1024 bytes), more than the 32 MiB an edit can write; nothing was written. Replace fewer occurrences or use a shorter new_str."
        );
        // A later edit is checked against the result of the earlier ones.
        let e = super::apply(b"abc", &[edit("b", "bbbb"), all("b", "bb")], 8).unwrap_err();
        assert!(
            matches!(
                e,
                EditError::TooLarge {
                    index: 1,
                    projected: 10,
                    ..
                }
            ),
            "{e:?}"
        );
        // Exactly at the limit is allowed, and shrinking is always allowed.
        assert_eq!(
            super::apply(b"abc", &[edit("b", "bbbb")], 6)
                .unwrap()
                .content,
            b"abbbbc"
        );
        assert_eq!(
            super::apply(&content, &[all("a\n", "")], 0)
                .unwrap()
                .content,
            b""
        );
    }

    #[test]
    fn the_projection_saturates_instead_of_wrapping() {
        assert_eq!(projected_len(10, 2, 3, 5), 14);
        assert_eq!(projected_len(10, usize::MAX, 1, usize::MAX), u64::MAX);
    }
}
