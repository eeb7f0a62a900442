//! One line of the audit log as the viewer reads it ([`Entry`]: a [`Record`], or a line it cannot
//! read and says so) and which lines a person asked for ([`Filter`]). A record is read leniently:
//! unknown keys are ignored and a key that is missing, null or of another type reads as absent, so
//! records written by a newer daemon still show.

use serde_json::{Map, Value};

/// Where a line stands: the file's name as it was opened and the line's number in it (from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub file: String,
    pub line: u64,
}

/// A line of the log: its bytes without the newline, or only its length when it was too long to
/// keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Bytes(Vec<u8>),
    TooLong(u64),
}

/// A line read from the log, with where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine {
    pub place: Place,
    pub line: Line,
}

/// The fields of an audit record that the viewer shows or filters on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub time: Option<String>,
    pub client: Option<String>,
    pub tool: Option<String>,
    pub target: Option<String>,
    pub decision: Option<String>,
    pub summary: Option<String>,
    pub outcome: Option<String>,
    pub exit_code: Option<i64>,
    pub error_type: Option<String>,
    pub duration_ms: Option<u64>,
}

/// A line of the log as the viewer reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// An audit record, with its line exactly as stored (for `--json`).
    Record { record: Record, raw: Vec<u8> },
    /// A line that is not a record: where it stands and why.
    Unreadable { place: Place, why: String },
}

impl Entry {
    pub fn parse(raw: RawLine) -> Self {
        let bytes = match raw.line {
            Line::Bytes(bytes) => bytes,
            Line::TooLong(len) => {
                return Self::Unreadable {
                    place: raw.place,
                    why: format!("a line of {len} bytes, too long to be a record"),
                };
            }
        };
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(fields)) => Self::Record {
                record: Record::from_fields(&fields),
                raw: bytes,
            },
            Ok(_) => Self::Unreadable {
                place: raw.place,
                why: format!("JSON but not an object: {}", excerpt(&bytes)),
            },
            Err(_) => Self::Unreadable {
                place: raw.place,
                why: format!("not valid JSON: {}", excerpt(&bytes)),
            },
        }
    }

    /// Whether the line parses as a record: a last line without its newline counts only then (a
    /// record being written does not).
    pub fn is_record(&self) -> bool {
        matches!(self, Self::Record { .. })
    }
}

impl Record {
    fn from_fields(fields: &Map<String, Value>) -> Self {
        let text = |key: &str| fields.get(key).and_then(Value::as_str).map(str::to_owned);
        Self {
            time: text("time"),
            client: text("client"),
            tool: text("tool"),
            target: text("target"),
            decision: text("decision"),
            summary: text("summary"),
            outcome: text("outcome"),
            exit_code: fields.get("exit_code").and_then(Value::as_i64),
            error_type: text("error_type"),
            duration_ms: fields.get("duration_ms").and_then(Value::as_u64),
        }
    }
}

/// The start of an unreadable line, for the row that reports it.
fn excerpt(bytes: &[u8]) -> String {
    const KEEP: usize = 60;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(KEEP)]).into_owned();
    if bytes.len() > KEEP {
        format!("{text}…")
    } else {
        text
    }
}

/// Which records a person asked for. An unreadable line passes every filter: it could have been
/// any record, and hiding it would hide that the log is damaged.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// A glob (`*` and `?`) on the target; a record without a target never matches.
    pub target: Option<String>,
    /// A tool name, exactly or without its `ssh_` prefix.
    pub tool: Option<String>,
    pub decision: Option<String>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.target.is_none() && self.tool.is_none() && self.decision.is_none()
    }

    pub fn keeps(&self, entry: &Entry) -> bool {
        let Entry::Record { record, .. } = entry else {
            return true;
        };
        let target_ok = self.target.as_deref().is_none_or(|pattern| {
            record
                .target
                .as_deref()
                .is_some_and(|t| glob_match(pattern, t))
        });
        let tool_ok = self.tool.as_deref().is_none_or(|wanted| {
            record.tool.as_deref().is_some_and(|tool| {
                tool == wanted || tool.strip_prefix("ssh_").is_some_and(|bare| bare == wanted)
            })
        });
        let decision_ok = self
            .decision
            .as_deref()
            .is_none_or(|wanted| record.decision.as_deref() == Some(wanted));
        target_ok && tool_ok && decision_ok
    }
}

/// Whether `text` matches `pattern`, where `*` is any run of characters (none included) and `?`
/// is one character; every other character stands for itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    // Where the last `*` stood in the pattern, and where its run ended in the text so far.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                // Let the last `*` take one more character and try again from there.
                Some((sp, st)) => {
                    star = Some((sp, st + 1));
                    p = sp + 1;
                    t = st + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> RawLine {
        RawLine {
            place: Place {
                file: "audit.jsonl".into(),
                line: 7,
            },
            line: Line::Bytes(text.as_bytes().to_vec()),
        }
    }

    fn record(text: &str) -> Record {
        match Entry::parse(line(text)) {
            Entry::Record { record, raw } => {
                assert_eq!(raw, text.as_bytes());
                record
            }
            other => panic!("not a record: {other:?}"),
        }
    }

    #[test]
    fn a_full_record_reads_every_field() {
        let r = record(
            r#"{"time":"2026-12-06T20:40:01.123Z","client":"claude-code/1.2.3","pid":1234,
            "tool":"ssh_exec","class":"exec","target":"prod-1","decision":"allowed","rule":null,
            "summary":"uname -a","outcome":"ok","exit_code":0,"error_type":null,"duration_ms":12}"#,
        );
        assert_eq!(
            r,
            Record {
                time: Some("2026-12-06T20:40:01.123Z".into()),
                client: Some("claude-code/1.2.3".into()),
                tool: Some("ssh_exec".into()),
                target: Some("prod-1".into()),
                decision: Some("allowed".into()),
                summary: Some("uname -a".into()),
                outcome: Some("ok".into()),
                exit_code: Some(0),
                error_type: None,
                duration_ms: Some(12),
            }
        );
    }

    #[test]
    fn unknown_missing_and_mistyped_keys_do_not_break_a_record() {
        let r = record(r#"{"tool":"ssh_view","future":{"a":[1,2]},"pid":"x","exit_code":"1"}"#);
        assert_eq!(r.tool.as_deref(), Some("ssh_view"));
        assert_eq!(r.exit_code, None);
        assert_eq!(r.target, None);
        assert_eq!(record("{}"), Record::default());
    }

    #[test]
    fn a_line_that_is_no_record_says_where_and_why() {
        for (text, why) in [
            ("{\"time\":\"2026-", "not valid JSON: {\"time\":\"2026-"),
            ("[1,2]", "JSON but not an object: [1,2]"),
            ("\u{ff}garbage", "not valid JSON: \u{ff}garbage"),
        ] {
            let Entry::Unreadable { place, why: got } = Entry::parse(line(text)) else {
                panic!("{text} read as a record");
            };
            assert_eq!(place.line, 7);
            assert_eq!(got, why);
        }
        let bad_utf8 = RawLine {
            line: Line::Bytes(vec![b'{', 0xff, b'}']),
            ..line("")
        };
        assert!(!Entry::parse(bad_utf8).is_record());
        let long = RawLine {
            line: Line::TooLong(5_000_000),
            ..line("")
        };
        assert!(matches!(
            Entry::parse(long),
            Entry::Unreadable { why, .. } if why.contains("5000000 bytes")
        ));
    }

    #[test]
    fn globs_match_with_star_and_question_mark() {
        for (pattern, text, expected) in [
            ("prod-*", "prod-1", true),
            ("prod-*", "prod-", true),
            ("prod-*", "staging-1", false),
            ("*.prod.example.com", "db.prod.example.com", true),
            ("*.prod.example.com", "prod.example.com", false),
            ("prod-?", "prod-12", false),
            ("prod-??", "prod-12", true),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("**x", "x", true),
            ("h?st", "hóst", true),
            ("PROD-1", "prod-1", false),
        ] {
            assert_eq!(glob_match(pattern, text), expected, "{pattern} on {text}");
        }
    }

    fn entry(text: &str) -> Entry {
        Entry::parse(line(text))
    }

    #[test]
    fn filters_keep_what_was_asked_for() {
        let exec = entry(r#"{"tool":"ssh_exec","target":"prod-1","decision":"allowed"}"#);
        let attach = entry(r#"{"tool":"Sessions/Attach","target":null,"decision":"denied"}"#);
        let broken = entry("not json");
        let by_tool = |tool: &str| Filter {
            tool: Some(tool.into()),
            ..Filter::default()
        };
        assert!(by_tool("ssh_exec").keeps(&exec));
        assert!(by_tool("exec").keeps(&exec));
        assert!(!by_tool("ssh_view").keeps(&exec));
        assert!(!by_tool("xec").keeps(&exec));
        assert!(by_tool("Sessions/Attach").keeps(&attach));
        let by_target = Filter {
            target: Some("prod-*".into()),
            ..Filter::default()
        };
        assert!(by_target.keeps(&exec));
        assert!(!by_target.keeps(&attach));
        let by_decision = Filter {
            decision: Some("denied".into()),
            ..Filter::default()
        };
        assert!(!by_decision.keeps(&exec));
        assert!(by_decision.keeps(&attach));
        for filter in [by_tool("exec"), by_target, by_decision, Filter::default()] {
            assert!(filter.keeps(&broken));
        }
        assert!(Filter::default().is_empty());
        assert!(!by_tool("exec").is_empty());
    }
}
