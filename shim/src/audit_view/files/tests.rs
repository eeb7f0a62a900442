//! Tests of reading the audit files: the last records across rotations, and following them.
use std::io::Write;

use super::super::record::Filter;
use super::*;

fn split(chunks: &[&[u8]]) -> (Vec<RawLine>, Option<RawLine>) {
    let mut lines = LineSplitter::default();
    let mut out = Vec::new();
    for chunk in chunks {
        lines.feed(chunk, "f", &mut out);
    }
    let last = lines.finish("f");
    (out, last)
}

fn bytes(raw: &RawLine) -> &[u8] {
    match &raw.line {
        Line::Bytes(b) => b,
        Line::TooLong(_) => panic!("too long: {raw:?}"),
    }
}

#[test]
fn lines_are_split_across_reads_and_counted() {
    let (out, last) = split(&[b"ab", b"c\nd", b"\n\nef"]);
    let got: Vec<&[u8]> = out.iter().map(bytes).collect();
    assert_eq!(got, [&b"abc"[..], b"d", b""]);
    assert_eq!(
        out.iter().map(|l| l.place.line).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let last = last.unwrap();
    assert_eq!((bytes(&last), last.place.line), (&b"ef"[..], 4));
    assert!(split(&[b"x\n"]).1.is_none());
}

#[test]
fn a_line_over_the_limit_is_passed_over_and_measured() {
    let big = vec![b'x'; MAX_LINE + 10];
    let chunks: Vec<&[u8]> = big.chunks(4096).chain([&b"\nok\n"[..]]).collect();
    let (out, _) = split(&chunks);
    assert_eq!(out[0].line, Line::TooLong((MAX_LINE + 10) as u64));
    assert_eq!(bytes(&out[1]), b"ok");
    let exact = vec![b'y'; MAX_LINE];
    let (out, _) = split(&[&exact, b"\n"]);
    assert_eq!(bytes(&out[0]).len(), MAX_LINE);
}

/// A state directory holding the given files, each line a record for `tool` numbered `i`.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }

    fn write(&self, rotation: u32, lines: &[&str]) {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(log_path(self.0.path(), rotation), text).unwrap();
    }

    fn append(&self, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(log_path(self.0.path(), 0))
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    fn last(&self, n: usize, filter: &Filter, follow: bool) -> LastEntries {
        read_last(self.0.path(), n, |e| filter.keeps(e), follow).unwrap()
    }
}

fn rec(tool: &str, i: u32) -> String {
    format!(r#"{{"tool":"{tool}","summary":"{i}"}}"#)
}

fn summaries(entries: &[Entry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| match e {
            Entry::Record { record, .. } => record.summary.clone().unwrap_or_default(),
            Entry::Unreadable { place, .. } => format!("?{}:{}", place.file, place.line),
        })
        .collect()
}

#[test]
fn the_last_records_come_from_the_rotations_when_the_current_file_has_too_few() {
    let dir = Dir::new();
    dir.write(3, &[&rec("ssh_exec", 1), &rec("ssh_exec", 2)]);
    dir.write(2, &[&rec("ssh_exec", 3)]);
    dir.write(1, &[&rec("ssh_exec", 4), &rec("ssh_view", 5)]);
    dir.write(0, &[&rec("ssh_exec", 6), &rec("ssh_exec", 7)]);
    let all = Filter::default();
    assert_eq!(summaries(&dir.last(2, &all, false).entries), ["6", "7"]);
    assert_eq!(
        summaries(&dir.last(4, &all, false).entries),
        ["4", "5", "6", "7"]
    );
    assert_eq!(
        summaries(&dir.last(100, &all, false).entries),
        ["1", "2", "3", "4", "5", "6", "7"]
    );
    assert!(dir.last(0, &all, false).entries.is_empty());
    let exec = Filter {
        tool: Some("exec".into()),
        ..Filter::default()
    };
    assert_eq!(
        summaries(&dir.last(4, &exec, false).entries),
        ["3", "4", "6", "7"]
    );
}

#[test]
fn missing_files_and_a_missing_current_file_are_not_errors() {
    let dir = Dir::new();
    let empty = dir.last(5, &Filter::default(), true);
    assert!(!empty.any_file && empty.entries.is_empty() && empty.current.is_none());
    dir.write(2, &[&rec("ssh_exec", 1)]);
    let only_rotated = dir.last(5, &Filter::default(), false);
    assert!(only_rotated.any_file);
    assert_eq!(summaries(&only_rotated.entries), ["1"]);
}

#[test]
fn an_unfinished_last_line_counts_only_as_a_record_and_never_when_following() {
    let dir = Dir::new();
    dir.append(&format!(
        "{}\n{}\n{{\"tool\":\"ssh_",
        rec("a", 1),
        rec("a", 2)
    ));
    let all = Filter::default();
    assert_eq!(summaries(&dir.last(5, &all, false).entries), ["1", "2"]);
    dir.append("x\",\"summary\":\"3\"}");
    assert_eq!(
        summaries(&dir.last(5, &all, false).entries),
        ["1", "2", "3"]
    );
    assert_eq!(summaries(&dir.last(5, &all, true).entries), ["1", "2"]);
    // A rotated file is complete: its last line counts whatever it is.
    std::fs::write(log_path(dir.0.path(), 1), "{\"half").unwrap();
    std::fs::remove_file(log_path(dir.0.path(), 0)).unwrap();
    assert_eq!(
        summaries(&dir.last(5, &all, false).entries),
        ["?audit.jsonl.1:1"]
    );
}

#[test]
fn a_damaged_line_is_an_entry_and_reading_goes_on() {
    let dir = Dir::new();
    dir.write(0, &[&rec("a", 1), "garbage", &rec("a", 3)]);
    assert_eq!(
        summaries(&dir.last(5, &Filter::default(), false).entries),
        ["1", "?audit.jsonl:2", "3"]
    );
}

#[test]
fn an_unreadable_file_is_an_error_that_names_it() {
    let dir = Dir::new();
    std::fs::create_dir(log_path(dir.0.path(), 0)).unwrap();
    let err = read_last(dir.0.path(), 5, |_| true, false).unwrap_err();
    assert!(
        err.to_string()
            .contains(&log_path(dir.0.path(), 0).display().to_string()),
        "{err}"
    );
}

fn polled(f: &mut Follower) -> Vec<String> {
    summaries(
        &f.poll()
            .unwrap()
            .into_iter()
            .map(Entry::parse)
            .collect::<Vec<_>>(),
    )
}

#[test]
fn the_follower_reads_appended_lines_once_they_end() {
    let dir = Dir::new();
    dir.append(&format!("{}\n{{\"tool\"", rec("a", 1)));
    let last = dir.last(5, &Filter::default(), true);
    assert_eq!(summaries(&last.entries), ["1"]);
    let mut f = Follower::new(dir.0.path(), last.current);
    assert!(polled(&mut f).is_empty());
    dir.append(":\"a\",\"summary\":\"2\"}");
    assert!(polled(&mut f).is_empty());
    dir.append(&format!("\n{}\n", rec("a", 3)));
    assert_eq!(polled(&mut f), ["2", "3"]);
    assert!(polled(&mut f).is_empty());
}

#[test]
fn the_follower_survives_a_rotation_and_a_file_that_comes_later() {
    let dir = Dir::new();
    let last = dir.last(5, &Filter::default(), true);
    let mut f = Follower::new(dir.0.path(), last.current);
    assert!(polled(&mut f).is_empty());
    dir.append(&format!("{}\n", rec("a", 1)));
    assert_eq!(polled(&mut f), ["1"]);
    // The daemon writes a last line, renames the file to .1 and starts a new one.
    dir.append(&format!("{}\n", rec("a", 2)));
    std::fs::rename(log_path(dir.0.path(), 0), log_path(dir.0.path(), 1)).unwrap();
    assert_eq!(polled(&mut f), ["2"]);
    assert!(polled(&mut f).is_empty());
    dir.append(&format!("{}\n{}\n", rec("a", 3), rec("a", 4)));
    assert_eq!(polled(&mut f), ["3", "4"]);
    // A rotation between two polls: the old file's rest comes before the new file.
    dir.append(&format!("{}\n", rec("a", 5)));
    std::fs::rename(log_path(dir.0.path(), 0), log_path(dir.0.path(), 1)).unwrap();
    dir.append(&format!("{}\n", rec("a", 6)));
    assert_eq!(polled(&mut f), ["5", "6"]);
}

#[test]
fn the_follower_starts_again_on_a_file_truncated_in_place() {
    let dir = Dir::new();
    dir.write(0, &[&rec("a", 1), &rec("a", 2)]);
    let last = dir.last(5, &Filter::default(), true);
    let mut f = Follower::new(dir.0.path(), last.current);
    dir.write(0, &[&rec("a", 3)]);
    assert_eq!(polled(&mut f), ["3"]);
}
