//! Whether file content is binary, the way grep and git decide it: a NUL byte among the first
//! 8 KiB. `ssh_edit` refuses such files (its strings are text, and a rewrite of a binary file
//! through a text tool is almost never what was meant); `ssh_view` still shows them.

/// How much of a file's start is looked at.
pub const SNIFF_BYTES: usize = 8 * 1024;

/// True when `content` (the whole file or at least its first [`SNIFF_BYTES`]) looks binary.
pub fn looks_binary(content: &[u8]) -> bool {
    let head = &content[..content.len().min(SNIFF_BYTES)];
    memchr::memchr(0, head).is_some()
}

/// The answer to an edit of a binary file.
pub fn refusal(path: &str) -> String {
    format!(
        "Remote file looks binary (a NUL byte in its first 8 KiB), so it was not edited: {path}. \
         ssh_edit changes text files only."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_invalid_utf8_are_not_binary() {
        assert!(!looks_binary(b""));
        assert!(!looks_binary(b"plain text\r\n"));
        assert!(!looks_binary(b"caf\xe9 \xff\xfe"));
    }

    #[test]
    fn a_nul_in_the_first_8_kib_is_binary() {
        assert!(looks_binary(b"\x7fELF\x02\x01\x01\x00"));
        let mut late = vec![b'a'; SNIFF_BYTES - 1];
        late.push(0);
        assert!(looks_binary(&late));
    }

    #[test]
    fn a_nul_after_8_kib_is_not_looked_at() {
        let mut content = vec![b'a'; SNIFF_BYTES];
        content.push(0);
        assert!(!looks_binary(&content));
    }

    #[test]
    fn the_refusal_names_the_path() {
        let m = refusal("/srv/app.bin");
        assert!(m.contains("/srv/app.bin") && m.contains("binary"), "{m}");
    }
}
