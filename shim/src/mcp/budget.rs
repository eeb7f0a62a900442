//! The result budget: by default the text of a tool result stays within 50,000 characters (what
//! clients show a model whole; past it Claude Code saves the result to a file and shows a path).
//! A command's streams that do not fit keep their beginning and their end (about three quarters
//! head, one quarter tail) around one marker line that says how many bytes were left out and how
//! to read them (`ssh_read_output` with the result's `output_id`). Output that is not UTF-8 is
//! carried once, as base64, never also as lossy text.
//!
//! Characters are counted as a client counts a JSON string (UTF-16 units), after JSON's escapes
//! (a newline takes two, other control characters six).

use base64::Engine;

/// A result's characters when the call does not say.
pub const DEFAULT_RESULT_CHARS: u32 = 50_000;
/// Room kept for a marker line (its numbers and the output id included).
const MARKER_ROOM: usize = 240;

/// Characters `s` takes inside a JSON string.
pub fn json_chars(s: &str) -> usize {
    s.chars().map(char_json_chars).sum()
}

fn char_json_chars(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf16(),
    }
}

/// Characters of a whole JSON text.
pub fn text_chars(json: &str) -> usize {
    json.encode_utf16().count()
}

/// The two streams of a command's `Finished`, as the daemon sent them (its bytes moved out).
pub fn streams_of(f: &mut ssh_mcp_wire::pb::Finished) -> [StreamIn; 2] {
    [
        StreamIn {
            name: "stdout",
            bytes: std::mem::take(&mut f.stdout),
            cut_at: f.stdout_cut_at.map(|c| c as usize),
            total: f.stdout_bytes,
        },
        StreamIn {
            name: "stderr",
            bytes: std::mem::take(&mut f.stderr),
            cut_at: f.stderr_cut_at.map(|c| c as usize),
            total: f.stderr_bytes,
        },
    ]
}

/// One stream as the daemon sent it: whole, or its head and tail joined at `cut_at`.
#[derive(Debug, Clone, Default)]
pub struct StreamIn {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    pub cut_at: Option<usize>,
    /// Bytes the command wrote to it.
    pub total: u64,
}

/// One stream as the result shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamOut {
    /// The text (with a marker where bytes were left out), or a note when the stream is raw.
    pub text: String,
    /// The stream's bytes (the first ones when cut) when it is not UTF-8.
    pub base64: Option<String>,
    /// Bytes were left out of the result.
    pub truncated: bool,
}

/// What a stream is made of, once read.
enum Shape<'a> {
    Text { head: &'a str, tail: &'a str },
    Raw(&'a [u8]),
}

fn shape(s: &StreamIn) -> Shape<'_> {
    let (head, tail) = match s.cut_at {
        Some(at) if at <= s.bytes.len() => s.bytes.split_at(at),
        _ => (s.bytes.as_slice(), &[][..]),
    };
    let cut = s.cut_at.is_some();
    // A character cut where the daemon left bytes out is dropped on both sides.
    let head_text = match std::str::from_utf8(head) {
        Ok(t) => Some(t),
        Err(e) if cut && e.error_len().is_none() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).ok()
        }
        Err(_) => None,
    };
    let skip = if cut {
        tail.iter()
            .take(3)
            .take_while(|b| (**b & 0xc0) == 0x80)
            .count()
    } else {
        0
    };
    match (head_text, std::str::from_utf8(&tail[skip..])) {
        (Some(head), Ok(tail)) => Shape::Text { head, tail },
        _ => Shape::Raw(&s.bytes),
    }
}

/// Where a left-out part can be read.
#[derive(Debug, Clone, Copy)]
pub struct Where<'a> {
    pub output_id: Option<&'a str>,
}

fn marker(stream: &str, left_out: u64, offset: u64, at: Where<'_>) -> String {
    match at.output_id {
        Some(id) => format!(
            "\n[ssh-mcp: {left_out} bytes of {stream} left out here; ssh_read_output \
             output_id=\"{id}\" stream=\"{stream}\" offset={offset} reads them]\n"
        ),
        None => format!("\n[ssh-mcp: {left_out} bytes of {stream} left out here (not kept)]\n"),
    }
}

/// The longest prefix of `s` within `chars` JSON characters.
fn prefix_within(s: &str, chars: usize) -> &str {
    let mut used = 0;
    for (at, c) in s.char_indices() {
        used += char_json_chars(c);
        if used > chars {
            return &s[..at];
        }
    }
    s
}

/// The longest suffix of `s` within `chars` JSON characters.
fn suffix_within(s: &str, chars: usize) -> &str {
    let mut used = 0;
    for (at, c) in s.char_indices().rev() {
        used += char_json_chars(c);
        if used > chars {
            return &s[at + c.len_utf8()..];
        }
    }
    s
}

/// What `s` needs to be shown whole (text, marker when the daemon left bytes out).
fn need(s: &StreamIn) -> usize {
    match shape(s) {
        Shape::Text { head, tail, .. } => {
            json_chars(head) + json_chars(tail) + if s.cut_at.is_some() { MARKER_ROOM } else { 0 }
        }
        Shape::Raw(bytes) => bytes.len().div_ceil(3) * 4,
    }
}

/// Shows `s` in at most `room` characters (its text, plus its base64 when raw).
fn render(s: &StreamIn, room: usize, at: Where<'_>) -> StreamOut {
    let b64 = &base64::engine::general_purpose::STANDARD;
    match shape(s) {
        Shape::Text { head, tail } => {
            let cut = s.cut_at.is_some();
            if !cut && json_chars(head) <= room {
                return StreamOut {
                    text: head.to_owned(),
                    base64: None,
                    truncated: false,
                };
            }
            let text_room = room.saturating_sub(MARKER_ROOM);
            let head_room = text_room * 3 / 4;
            let tail_room = text_room - head_room;
            // Uncut, head and tail are the same text: its two ends.
            let tail_src = if cut { tail } else { head };
            let (h, t) = if cut && json_chars(head) + json_chars(tail) <= text_room {
                (head, tail)
            } else {
                (
                    prefix_within(head, head_room),
                    suffix_within(tail_src, tail_room),
                )
            };
            let shown = (h.len() + t.len()) as u64;
            let left_out = s.total.saturating_sub(shown);
            StreamOut {
                text: format!("{h}{}{t}", marker(s.name, left_out, h.len() as u64, at)),
                base64: None,
                truncated: true,
            }
        }
        Shape::Raw(bytes) => {
            // Raw bytes go whole when they fit; else their beginning, the rest by output_id.
            let fits = bytes.len().div_ceil(3) * 4 <= room && s.cut_at.is_none();
            if fits {
                return StreamOut {
                    text: String::new(),
                    base64: Some(b64.encode(bytes)),
                    truncated: false,
                };
            }
            let first = s
                .cut_at
                .unwrap_or(bytes.len())
                .min(room.saturating_sub(MARKER_ROOM) / 4 * 3);
            let how = match at.output_id {
                Some(id) => format!(
                    "ssh_read_output output_id=\"{id}\" stream=\"{}\" offset={first} reads the rest",
                    s.name
                ),
                None => "the rest was not kept".to_owned(),
            };
            StreamOut {
                text: format!(
                    "[ssh-mcp: {} is not UTF-8: its first {first} of {} bytes are in {}_base64; {how}]",
                    s.name, s.total, s.name
                ),
                base64: Some(b64.encode(&bytes[..first])),
                truncated: true,
            }
        }
    }
}

/// Shares `room` characters between the two streams: each gets what it needs when both fit;
/// else the smaller takes what it needs up to half, and the larger the rest.
pub fn fit(streams: [&StreamIn; 2], room: usize, at: Where<'_>) -> [StreamOut; 2] {
    let needs = streams.map(need);
    let rooms = if needs[0] + needs[1] <= room {
        needs
    } else if needs[0] <= needs[1] {
        let a = needs[0].min(room / 2);
        [a, room - a]
    } else {
        let b = needs[1].min(room / 2);
        [room - b, b]
    };
    [
        render(streams[0], rooms[0], at),
        render(streams[1], rooms[1], at),
    ]
}

#[cfg(test)]
mod tests;
