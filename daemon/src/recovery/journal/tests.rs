//! Tests of the journal: what a new daemon finds, compaction, and a state directory that
//! cannot be written.

use ssh_mcp_core::ssh::options::connection::RawConnection;

use super::*;

fn conn(target: &str) -> Connection {
    Connection::parse(
        &RawConnection {
            target: target.into(),
            port: Some(2200),
            extra_ssh_args: vec!["-oConnectTimeout=3".into()],
            ..Default::default()
        },
        None,
    )
    .unwrap()
}

#[test]
fn entries_left_running_are_found_by_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, left) = Journal::open(dir.path());
    assert!(left.is_empty());
    let finished = journal.begin(Kind::Command, "aa01", &conn("h1"), None);
    finished.pgid(41);
    drop(finished);
    let running = journal.begin(Kind::Command, "bb02", &conn("h2"), Some(Path::new("/a s")));
    running.pgid(42);
    let unreported = journal.begin(Kind::Session, "cc03", &conn("h3"), None);
    // A crash: the entries are never dropped, and the last line is cut short.
    std::mem::forget((running, unreported));
    let path = dir.path().join(JOURNAL_FILE);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"{\"event\":\"end\",\"non")
        .unwrap();

    let (again, left) = Journal::open(dir.path());
    let summary: Vec<_> = left
        .iter()
        .map(|r| {
            (
                r.nonce.as_str(),
                r.kind,
                r.pgid,
                r.connection.target.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("bb02", Kind::Command, Some(42), "h2"),
            ("cc03", Kind::Session, None, "h3")
        ]
    );
    assert_eq!(left[0].auth_sock.as_deref(), Some("/a s"));
    let back = Connection::parse(&left[0].connection.to_raw(), None).unwrap();
    assert_eq!(back, conn("h2"));
    // Still in the journal until ended; compacted to two lines.
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    again.end("bb02");
    again.end("cc03");
    let (_, left) = Journal::open(dir.path());
    assert!(left.is_empty());
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn the_file_is_compacted_as_it_grows() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) = Journal::open(dir.path());
    let keep = journal.begin(Kind::Command, "ff00", &conn("h"), None);
    for i in 0..8000 {
        let e = journal.begin(Kind::Command, &format!("{i:x}"), &conn("h"), None);
        e.pgid(i);
    }
    let size = std::fs::metadata(dir.path().join(JOURNAL_FILE))
        .unwrap()
        .len();
    assert!(size < COMPACT_AT + 4096, "{size}");
    assert_eq!(journal.running().len(), 1);
    drop(keep);
    assert!(journal.running().is_empty());
}

#[test]
fn a_state_directory_that_cannot_be_written_keeps_entries_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) = Journal::open(&dir.path().join("missing"));
    let e = journal.begin(Kind::Command, "ab", &conn("h"), None);
    assert_eq!(journal.running().len(), 1);
    drop(e);
    assert!(journal.running().is_empty());
}
