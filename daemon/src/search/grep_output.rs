//! Reading what the grep script sent back. stdout holds records in grep's `--null` form:
//! `name NUL` (files), `name NUL count LF` (counts), `name NUL line (':' | '-') text LF` (content;
//! `-` marks context, `--` LF separates groups). A name can hold anything but NUL, so it is read
//! up to its NUL, and a record cut short by a limit is reported as such. stderr holds the
//! script's two marker lines around grep's messages, `grep: PATH: MESSAGE` per unreadable file.

use super::grep_script::{FLAVOR_MARK, STATUS_MARK};
use super::grep_spec::OutputMode;

/// One result record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    File(String),
    Count {
        path: String,
        count: u64,
    },
    Line {
        path: String,
        line_number: u64,
        line: String,
        is_context: bool,
    },
}

impl Record {
    pub fn path(&self) -> &str {
        match self {
            Self::File(p) | Self::Count { path: p, .. } | Self::Line { path: p, .. } => p,
        }
    }
}

/// The records of one stdout, and whether it ended inside a record (the host cut it short).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Records {
    pub records: Vec<Record>,
    pub cut: bool,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Parses stdout for `mode`. `search_path` is the path grep was given: every name starts with
/// it, which tells a group separator from a name that starts with `--` and a newline.
pub fn parse_stdout(mode: OutputMode, out: &[u8], search_path: &str) -> Records {
    let mut records = Vec::new();
    let mut rest = out;
    let separator_is_name = search_path.as_bytes().starts_with(b"--\n");
    let cut = loop {
        if rest.is_empty() {
            break false;
        }
        if mode == OutputMode::Content && !separator_is_name && rest.starts_with(b"--\n") {
            rest = &rest[3..];
            continue;
        }
        let Some(nul) = rest.iter().position(|&b| b == 0) else {
            break true;
        };
        let path = text(&rest[..nul]);
        let after = &rest[nul + 1..];
        if mode == OutputMode::FilesWithMatches {
            records.push(Record::File(path));
            rest = after;
            continue;
        }
        let Some(lf) = after.iter().position(|&b| b == b'\n') else {
            break true;
        };
        let body = &after[..lf];
        rest = &after[lf + 1..];
        if mode == OutputMode::Count {
            match std::str::from_utf8(body).ok().and_then(|s| s.parse().ok()) {
                Some(0) => {}
                Some(count) => records.push(Record::Count { path, count }),
                None => break true,
            }
            continue;
        }
        let digits = body.iter().take_while(|b| b.is_ascii_digit()).count();
        let (Some(line_number), Some(&sep)) = (
            std::str::from_utf8(&body[..digits])
                .ok()
                .and_then(|s| s.parse().ok()),
            body.get(digits),
        ) else {
            break true;
        };
        if sep != b':' && sep != b'-' {
            break true;
        }
        records.push(Record::Line {
            path,
            line_number,
            line: text(&body[digits + 1..]),
            is_context: sep == b'-',
        });
    };
    Records { records, cut }
}

/// The regex flavour grep used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `-P`, Perl-compatible.
    Pcre,
    /// `-E`, POSIX extended (grep without PCRE).
    Extended,
}

impl Flavor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pcre => "pcre",
            Self::Extended => "extended",
        }
    }
}

/// One file grep could not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub path: String,
    pub message: String,
}

/// What stderr says.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub flavor: Option<Flavor>,
    /// grep's exit status (above 128 when the record limit stopped it early).
    pub status: Option<i32>,
    /// Files grep named with a reason.
    pub errors: Vec<FileError>,
    /// Anything else grep said (a bad pattern, for one).
    pub other: Vec<String>,
}

/// Parses stderr. A line that starts with neither a marker nor `grep: ` continues the message
/// before it (a file name with a newline).
pub fn parse_stderr(err: &[u8], search_path: &str) -> Report {
    let mut report = Report::default();
    let mut messages: Vec<String> = Vec::new();
    for line in text(err).split('\n') {
        if let Some(flag) = line.strip_prefix(FLAVOR_MARK) {
            report.flavor = Some(if flag == "-P" {
                Flavor::Pcre
            } else {
                Flavor::Extended
            });
        } else if let Some(code) = line.strip_prefix(STATUS_MARK) {
            report.status = code.trim().parse().ok();
        } else if let Some(msg) = ["grep: ", "ggrep: "]
            .iter()
            .find_map(|p| line.strip_prefix(p))
        {
            messages.push(msg.to_owned());
        } else if let Some(last) = messages.last_mut() {
            last.push('\n');
            last.push_str(line);
        } else if !line.trim().is_empty() {
            messages.push(line.to_owned());
        }
    }
    for m in messages {
        let m = m.trim_end_matches('\n');
        // Not an error: grep -I still reports a file whose NUL comes late.
        if m.ends_with(": binary file matches") || m.is_empty() {
            continue;
        }
        match m.rsplit_once(": ") {
            Some((path, message)) if path.starts_with(search_path) => {
                report.errors.push(FileError {
                    path: path.to_owned(),
                    message: message.to_owned(),
                })
            }
            _ => report.other.push(m.to_owned()),
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(path: &str, n: u64, text: &str, ctx: bool) -> Record {
        Record::Line {
            path: path.into(),
            line_number: n,
            line: text.into(),
            is_context: ctx,
        }
    }

    #[test]
    fn names_with_colons_digits_and_newlines_parse_exactly() {
        let out = b"./a:12:b.txt\x0012:x:3:y\n./new\nline\x004-ctx\n--\n./c\x001:hit\n";
        let r = parse_stdout(OutputMode::Content, out, ".");
        assert_eq!(
            r.records,
            [
                line("./a:12:b.txt", 12, "x:3:y", false),
                line("./new\nline", 4, "ctx", true),
                line("./c", 1, "hit", false),
            ]
        );
        assert!(!r.cut);
    }

    #[test]
    fn a_name_starting_with_dashes_is_not_a_separator_when_the_path_does() {
        let out = b"--\nx/f\x001:hit\n";
        let r = parse_stdout(OutputMode::Content, out, "--\nx");
        assert_eq!(r.records, [line("--\nx/f", 1, "hit", false)]);
    }

    #[test]
    fn files_and_counts() {
        let r = parse_stdout(OutputMode::FilesWithMatches, b"./a\0./b c\0./d\ne\0", ".");
        let names: Vec<&str> = r.records.iter().map(Record::path).collect();
        assert_eq!(names, ["./a", "./b c", "./d\ne"]);
        let r = parse_stdout(OutputMode::Count, b"./a\x002\n./z\x000\n./n\nl\x001\n", ".");
        assert_eq!(
            r.records,
            [
                Record::Count {
                    path: "./a".into(),
                    count: 2
                },
                Record::Count {
                    path: "./n\nl".into(),
                    count: 1
                },
            ]
        );
    }

    #[test]
    fn a_record_cut_short_is_dropped_and_reported() {
        let r = parse_stdout(OutputMode::Content, b"./a\x001:x\n./a\0", ".");
        assert_eq!((r.records.len(), r.cut), (1, true));
        let r = parse_stdout(OutputMode::Content, b"./a\x001:x\n./a\x002:trunc", ".");
        assert_eq!((r.records.len(), r.cut), (1, true));
        let r = parse_stdout(OutputMode::FilesWithMatches, b"./a\0./b", ".");
        assert_eq!((r.records.len(), r.cut), (1, true));
        let r = parse_stdout(OutputMode::Count, b"./a\x003", ".");
        assert_eq!((r.records.len(), r.cut), (0, true));
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let r = parse_stdout(OutputMode::Content, b"./caf\xe9\x001:\xff\n", ".");
        assert_eq!(r.records, [line("./caf\u{fffd}", 1, "\u{fffd}", false)]);
    }

    #[test]
    fn stderr_markers_file_errors_and_other_messages() {
        let err = b"sshmcp-grep-flavor -P\n\
            grep: ./sub/locked: Permission denied\n\
            grep: ./we: ird\nname: Permission denied\n\
            grep: ./bin: binary file matches\n\
            sshmcp-grep-status 2\n";
        let r = parse_stderr(err, ".");
        assert_eq!(r.flavor, Some(Flavor::Pcre));
        assert_eq!(r.status, Some(2));
        assert_eq!(
            r.errors,
            [
                FileError {
                    path: "./sub/locked".into(),
                    message: "Permission denied".into()
                },
                FileError {
                    path: "./we: ird\nname".into(),
                    message: "Permission denied".into()
                },
            ]
        );
        assert!(r.other.is_empty(), "{:?}", r.other);

        let r = parse_stderr(
            b"sshmcp-grep-flavor -E\ngrep: Unmatched ( or \\(\nsshmcp-grep-status 2\n",
            ".",
        );
        assert_eq!(r.flavor, Some(Flavor::Extended));
        assert_eq!(r.other, ["Unmatched ( or \\("]);
        assert!(r.errors.is_empty());
    }
}
