//! A line longer than the transport reads is dropped, but its sender still waits for an answer
//! with its request's id. [`OversizedLine`] follows the dropped bytes as they pass, in constant
//! memory, and keeps the one thing the answer needs: the value of the top-level `"id"` member
//! (the first one, wherever it stands in the object), plus how many bytes the line had.
//!
//! It is a small JSON lexer, not a parser: it tracks nesting depth, strings and escapes, and at
//! depth 1 whether a key or a value comes next. A line that is not JSON at all simply yields no id.

use serde_json::Value;

/// The longest key worth keeping: only `"id"` (2 bytes) matters, and an escaped spelling of it
/// (`"\u0069d"`) is longer.
const MAX_KEY_BYTES: usize = 16;

/// The longest id value kept; JSON-RPC ids are short numbers or strings.
const MAX_ID_BYTES: usize = 256;

/// Where the lexer stands inside the top-level object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Before the first non-blank byte of the line.
    Start,
    /// At depth 1, a key (or the closing brace) comes next.
    Key,
    /// At depth 1, after a key: the colon comes next.
    Colon,
    /// A value is being read (at depth 1 or deeper).
    Value,
    /// The line is no object, or its object ended: nothing more is read.
    Done,
}

/// What the bytes of one dropped line told about it.
#[derive(Debug)]
pub struct OversizedLine {
    bytes: u64,
    slot: Slot,
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// The key being read at depth 1 (bounded; a longer key is no id).
    key: Vec<u8>,
    key_too_long: bool,
    /// The value of the first `"id"` member, while and once it is read.
    id: Option<Vec<u8>>,
    reading_id: bool,
}

impl Default for OversizedLine {
    fn default() -> Self {
        Self {
            bytes: 0,
            slot: Slot::Start,
            depth: 0,
            in_string: false,
            escaped: false,
            key: Vec::new(),
            key_too_long: false,
            id: None,
            reading_id: false,
        }
    }
}

impl OversizedLine {
    /// Follows the next part of the line (without its newline).
    pub fn feed(&mut self, part: &[u8]) {
        self.bytes += part.len() as u64;
        for &b in part {
            if self.slot == Slot::Done {
                return;
            }
            self.step(b);
        }
    }

    /// The line's length in bytes, as fed.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The request's id, when the line read as an object with a JSON-RPC id (a string or an
    /// integer) as its first `"id"` member; `Value::Null` otherwise.
    pub fn id(&self) -> Value {
        let Some(raw) = self.id.as_deref() else {
            return Value::Null;
        };
        match serde_json::from_slice::<Value>(raw) {
            Ok(id @ Value::String(_)) => id,
            Ok(Value::Number(n)) if n.is_i64() || n.is_u64() => Value::Number(n),
            _ => Value::Null,
        }
    }

    fn step(&mut self, b: u8) {
        if self.reading_id {
            self.keep_id_byte(b);
        }
        if self.in_string {
            self.string_byte(b);
            return;
        }
        match (self.slot, b) {
            (_, b' ' | b'\t' | b'\r') if self.depth <= 1 && self.slot != Slot::Value => {}
            (Slot::Start, b'{') => {
                self.depth = 1;
                self.slot = Slot::Key;
            }
            (Slot::Start, _) => self.slot = Slot::Done,
            (Slot::Key, b'"') => {
                self.in_string = true;
                self.key.clear();
                self.key_too_long = false;
            }
            (Slot::Key, b'}') => self.finish(),
            (Slot::Key, _) => self.slot = Slot::Done,
            (Slot::Colon, b':') => {
                self.slot = Slot::Value;
                self.reading_id = self.id.is_none() && !self.key_too_long && self.key_is_id();
                if self.reading_id {
                    self.id = Some(Vec::new());
                }
            }
            (Slot::Colon, _) => self.slot = Slot::Done,
            (Slot::Value, _) => self.value_byte(b),
            (Slot::Done, _) => {}
        }
    }

    /// A byte inside a string (a key at depth 1, or any string in a value).
    fn string_byte(&mut self, b: u8) {
        let is_key = self.slot == Slot::Key;
        if self.escaped {
            self.escaped = false;
        } else if b == b'\\' {
            self.escaped = true;
        } else if b == b'"' {
            self.in_string = false;
            if is_key {
                self.slot = Slot::Colon;
            }
            return;
        }
        if is_key {
            if self.key.len() < MAX_KEY_BYTES {
                self.key.push(b);
            } else {
                self.key_too_long = true;
            }
        }
    }

    /// A byte of a member's value outside strings.
    fn value_byte(&mut self, b: u8) {
        match b {
            b'"' => self.in_string = true,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' if self.depth > 1 => self.depth -= 1,
            b'}' => {
                self.end_of_value();
                self.finish();
            }
            b',' if self.depth == 1 => {
                self.end_of_value();
                self.slot = Slot::Key;
            }
            _ => {}
        }
    }

    fn end_of_value(&mut self) {
        if self.reading_id {
            self.reading_id = false;
            if let Some(id) = self.id.as_mut() {
                // The byte that ended the value (`,` or `}`) was kept with it.
                id.pop();
            }
        }
    }

    fn finish(&mut self) {
        self.depth = 0;
        self.slot = Slot::Done;
    }

    fn keep_id_byte(&mut self, b: u8) {
        if let Some(id) = self.id.as_mut() {
            if id.len() < MAX_ID_BYTES {
                id.push(b);
            } else {
                // Too long for an id JSON-RPC would use: forget it.
                id.clear();
                id.extend_from_slice(b"null");
                self.reading_id = false;
            }
        }
    }

    /// Whether the key read is `id`, in any spelling JSON allows (escapes included).
    fn key_is_id(&self) -> bool {
        let mut quoted = Vec::with_capacity(self.key.len() + 2);
        quoted.push(b'"');
        quoted.extend_from_slice(&self.key);
        quoted.push(b'"');
        serde_json::from_slice::<String>(&quoted).is_ok_and(|k| k == "id")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn scan_in_parts(line: &str, part: usize) -> OversizedLine {
        let mut scan = OversizedLine::default();
        for chunk in line.as_bytes().chunks(part) {
            scan.feed(chunk);
        }
        scan
    }

    fn id_of(line: &str) -> Value {
        let whole = scan_in_parts(line, line.len().max(1)).id();
        for part in [1, 2, 3, 7] {
            assert_eq!(
                scan_in_parts(line, part).id(),
                whole,
                "{line} in parts of {part}"
            );
        }
        whole
    }

    #[test]
    fn the_first_top_level_id_is_found_wherever_it_stands() {
        let big = "x".repeat(10_000);
        assert_eq!(id_of(r#"{"jsonrpc":"2.0","id":7,"method":"m"}"#), json!(7));
        assert_eq!(
            id_of(&format!(
                r#"{{"jsonrpc":"2.0","method":"tools/call","params":{{"id":3,"a":["{big}",{{"id":4}}]}},"id":"req-9"}}"#
            )),
            json!("req-9")
        );
        assert_eq!(id_of(r#" { "id" : 12 , "id": 13 }"#), json!(12));
        assert_eq!(id_of(r#"{"\u0069d":5,"x":1}"#), json!(5));
        assert_eq!(id_of(r#"{"i\"d":5,"id":"a,b}\"c"}"#), json!("a,b}\"c"));
        assert_eq!(id_of(&format!(r#"{{"{big}":1,"id":2}}"#)), json!(2));
    }

    #[test]
    fn no_id_or_one_json_rpc_does_not_allow_is_null() {
        for line in [
            r#"{"jsonrpc":"2.0","method":"m","params":{"id":1}}"#,
            r#"{"id":1.5}"#,
            r#"{"id":null}"#,
            r#"{"id":{"a":1}}"#,
            r#"[{"id":1}]"#,
            "garbage with \"id\":1",
            r#"{"id""#,
            "",
        ] {
            assert_eq!(id_of(line), Value::Null, "{line}");
        }
        let long_id = format!(r#"{{"id":"{}"}}"#, "9".repeat(MAX_ID_BYTES * 2));
        assert_eq!(id_of(&long_id), Value::Null);
    }

    #[test]
    fn an_id_cut_off_by_the_end_of_the_line_still_reads_when_complete() {
        // A line that ends right after the id (no closing brace) still names it.
        assert_eq!(id_of(r#"{"id":42"#), json!(42));
        assert_eq!(scan_in_parts(r#"{"id":1,"x":"abc"}"#, 4).bytes(), 18);
    }
}
