//! JSON text of a `serde_json::Value`, byte for byte as `serde_json::to_vec` writes it (compact,
//! the same escapes), but with strings scanned eight bytes at a time. Pages of output are
//! megabytes of text, and each goes out twice in a result (structured, and as JSON text inside
//! the text content); serde_json looks at every byte of a string on its own, which made string
//! escaping half the shim's time when paging. Results (`mcp::result`) and every line the stdio
//! transport writes go through here.

use serde_json::Value;

/// The JSON text of `value`.
pub fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(estimate(value));
    write_value(&mut out, value);
    out
}

/// The JSON text of `value` as a string.
pub fn to_string(value: &Value) -> String {
    // Only ASCII punctuation is added around the UTF-8 of the value's strings.
    String::from_utf8(to_vec(value))
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
}

/// Room for the text of `value`: its strings, and a little for everything else.
fn estimate(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len() + s.len() / 16 + 2,
        Value::Array(items) => items.iter().map(estimate).sum::<usize>() + items.len() + 2,
        Value::Object(map) => {
            map.iter()
                .map(|(k, v)| k.len() + 4 + estimate(v))
                .sum::<usize>()
                + 2
        }
        _ => 8,
    }
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, key);
                out.push(b':');
                write_value(out, item);
            }
            out.push(b'}');
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each of the eight bytes of `w` (little-endian) that needs an escape in a JSON
/// string: a control character (below 0x20), `"` or `\`; bytes from 0x80 are UTF-8 and stay.
/// Bits above the lowest may be false (a borrow carries); the lowest set bit is always right.
fn escape_mask(w: u64) -> u64 {
    let below_space = w.wrapping_sub(ONES * 0x20) & !w;
    let quote = w ^ (ONES * u64::from(b'"'));
    let backslash = w ^ (ONES * u64::from(b'\\'));
    let is_quote = quote.wrapping_sub(ONES) & !quote;
    let is_backslash = backslash.wrapping_sub(ONES) & !backslash;
    (below_space | is_quote | is_backslash) & HIGHS
}

fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Where the first byte from `at` that needs an escape is, or the end.
fn next_escape(bytes: &[u8], mut at: usize) -> usize {
    while let Some(word) = bytes.get(at..at + 8) {
        let Ok(word) = <[u8; 8]>::try_from(word) else {
            break;
        };
        let mask = escape_mask(u64::from_le_bytes(word));
        if mask != 0 {
            return at + (mask.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while at < bytes.len() && !needs_escape(bytes[at]) {
        at += 1;
    }
    at
}

/// `s` as a JSON string, quotes included.
fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    loop {
        let at = next_escape(bytes, start);
        out.extend_from_slice(&bytes[start..at]);
        let Some(&b) = bytes.get(at) else {
            break;
        };
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
        }
        start = at + 1;
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_text_is_serde_jsons_byte_for_byte() {
        let mut every_byte = String::new();
        for c in (0u8..0x80).map(char::from) {
            every_byte.push(c);
            every_byte.push_str("plain text run");
        }
        let values = [
            json!(null),
            json!({"ok": true, "n": -12, "f": 1.5, "big": u64::MAX, "list": [1, "a", null, false]}),
            json!({"data": every_byte, "é\"key\n": "ünïcödé 😀 \u{7f} \u{1f}"}),
            json!([
                "",
                "\"",
                "\\",
                "a\"b\\c\nd",
                "12345678\n1234567",
                "\u{0}\u{8}\u{c}\r\t"
            ]),
            json!({"nested": {"deeper": [{"x": "y"}, []], "empty": {}}}),
        ];
        for value in values {
            let ours = to_vec(&value);
            let theirs = serde_json::to_vec(&value).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs)
            );
        }
    }

    #[test]
    fn every_position_of_an_escape_in_a_word_is_found() {
        for special in ["\"", "\\", "\n", "\u{1}", "\u{1f}"] {
            for at in 0..17 {
                let s = format!("{}{special}{}", "x".repeat(at), "y".repeat(20 - at));
                let value = json!(s);
                assert_eq!(to_vec(&value), serde_json::to_vec(&value).unwrap(), "{s:?}");
            }
        }
    }

    #[test]
    fn bytes_that_only_look_special_are_kept() {
        // Bytes just above the ranges, and multi-byte characters whose bytes have the high bit.
        let s = " !#[]^_`{|}~\u{80}\u{a2}\u{5c5c}\u{2222}";
        let value = json!(s);
        assert_eq!(to_vec(&value), serde_json::to_vec(&value).unwrap());
    }
}
