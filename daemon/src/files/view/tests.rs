//! Tests of `ssh_view` against OpenSSH's own sftp-server on pipes (`local_sftp`): the modes,
//! the caps and their notes, and directory listings.

use super::super::local_sftp::LocalSftp;
use super::*;

fn req(path: &str, mode: Mode) -> ViewRequest {
    ViewRequest {
        path: path.into(),
        mode,
        line_numbers: false,
    }
}

async fn file(s: &LocalSftp, r: ViewRequest) -> FileView {
    match view(&s.sftp, &r).await.unwrap() {
        Viewed::File(f) => f,
        other => panic!("{other:?}"),
    }
}

const AUTO: Mode = Mode::Auto { max_bytes: 20480 };

#[tokio::test]
async fn a_small_file_whole_with_its_counts() {
    let s = LocalSftp::start().await;
    s.write("a.txt", b"one\r\ntwo\r\nthree");
    let f = file(&s, req("a.txt", AUTO)).await;
    assert_eq!(f.content, b"one\r\ntwo\r\nthree");
    assert_eq!(
        (f.size_bytes, f.total_lines, f.truncated),
        (15, Some(3), false)
    );
    assert_eq!(f.lines, None);
    // ~/ is the login directory, as a relative path is.
    assert_eq!(file(&s, req("~/a.txt", AUTO)).await.content, f.content);
    let abs = s.at("a.txt").to_string_lossy().into_owned();
    assert_eq!(file(&s, req(&abs, AUTO)).await.content, f.content);
}

#[tokio::test]
async fn auto_cuts_at_max_bytes_without_splitting_a_character() {
    let s = LocalSftp::start().await;
    s.write("u.txt", "abcd\u{20ac}xyz\n".as_bytes()); // € is 3 bytes at 4..7
    let f = file(&s, req("u.txt", Mode::Auto { max_bytes: 5 })).await;
    assert_eq!(f.content, b"abcd");
    assert_eq!((f.size_bytes, f.total_lines, f.truncated), (11, None, true));
    let f = file(&s, req("u.txt", Mode::Auto { max_bytes: 7 })).await;
    assert_eq!(f.content, "abcd\u{20ac}".as_bytes());
    let f = file(&s, req("u.txt", Mode::Auto { max_bytes: 11 })).await;
    assert_eq!((f.truncated, f.total_lines), (false, Some(1)));
}

#[tokio::test]
async fn full_reads_past_max_bytes() {
    let s = LocalSftp::start().await;
    let big: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    s.write("big", &big);
    let f = file(&s, req("big", Mode::Full)).await;
    assert_eq!(f.content, big);
    assert_eq!(
        (f.size_bytes, f.total_lines, f.truncated),
        (300_000, Some(1), false)
    );
}

#[tokio::test]
async fn a_range_is_clamped_and_numbered_on_request() {
    let s = LocalSftp::start().await;
    let text: String = (1..=10).map(|n| format!("{n}\n")).collect();
    s.write("ten", text.as_bytes());
    let f = file(
        &s,
        req(
            "ten",
            Mode::Range {
                start: 3,
                end: Some(5),
            },
        ),
    )
    .await;
    assert_eq!(f.content, b"3\n4\n5\n");
    assert_eq!((f.total_lines, f.lines), (Some(10), Some((3, 5))));
    let f = file(
        &s,
        req(
            "ten",
            Mode::Range {
                start: 9,
                end: Some(40),
            },
        ),
    )
    .await;
    assert_eq!(f.content, b"9\n10\n");
    assert_eq!(f.lines, Some((9, 10)));
    let f = file(
        &s,
        req(
            "ten",
            Mode::Range {
                start: 8,
                end: None,
            },
        ),
    )
    .await;
    assert_eq!(f.lines, Some((8, 10)));
    let mut r = req(
        "ten",
        Mode::Range {
            start: 9,
            end: None,
        },
    );
    r.line_numbers = true;
    assert_eq!(file(&s, r).await.content, b"     9\t9\n    10\t10\n");
}

#[tokio::test]
async fn a_range_at_the_top_of_a_large_file_does_not_read_it_all() {
    let s = LocalSftp::start().await;
    let line = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n";
    let big: Vec<u8> = line.repeat((COUNT_LINES_BYTES as usize / line.len()) + 20_000);
    s.write("log", &big);
    let f = file(
        &s,
        req(
            "log",
            Mode::Range {
                start: 2,
                end: Some(3),
            },
        ),
    )
    .await;
    assert_eq!(f.content, line.repeat(2));
    assert_eq!(
        (f.lines, f.total_lines),
        (Some((2, 3)), None),
        "not counted"
    );
    assert_eq!(f.size_bytes, big.len() as u64);
    // To the end of the file, every line is read and counted.
    let total = (big.len() / line.len()) as u64;
    let f = file(
        &s,
        req(
            "log",
            Mode::Range {
                start: total,
                end: None,
            },
        ),
    )
    .await;
    assert_eq!(
        (f.content.as_slice(), f.total_lines),
        (&line[..], Some(total))
    );
}

#[tokio::test]
async fn a_directory_lists_two_levels_without_hidden_entries() {
    let s = LocalSftp::start().await;
    for d in ["d/sub/deeper", "d/.hidden", "d/line\nbreak"] {
        std::fs::create_dir_all(s.at(d)).unwrap();
    }
    s.write("d/a.txt", b"");
    s.write("d/sub/b.txt", b"");
    s.write("d/sub/deeper/c.txt", b"");
    s.write("d/.hidden/x", b"");
    std::os::unix::fs::symlink("sub", s.at("d/link")).unwrap();
    let Viewed::Directory(l) = view(&s.sftp, &req("d/", AUTO)).await.unwrap() else {
        panic!("not a listing")
    };
    let got: Vec<(&str, &str)> = l
        .entries
        .iter()
        .map(|e| (e.path.as_str(), e.kind.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("d/a.txt", "file"),
            ("d/line\nbreak", "directory"),
            ("d/link", "directory"),
            ("d/sub", "directory"),
            ("d/sub/b.txt", "file"),
            ("d/sub/deeper", "directory"),
        ]
    );
    assert!(!l.truncated);
}

#[tokio::test]
async fn a_name_in_invalid_utf8_asks_for_the_shell_listing() {
    use std::os::unix::ffi::OsStrExt;
    let s = LocalSftp::start().await;
    let bad = s.at("d").join(std::ffi::OsStr::from_bytes(b"bad\xff"));
    std::fs::create_dir_all(&bad).unwrap();
    let v = view(&s.sftp, &req("d", AUTO)).await.unwrap();
    assert_eq!(v, Viewed::NeedsShellListing);
}

#[tokio::test]
async fn missing_and_special_paths_get_the_seed_errors() {
    let s = LocalSftp::start().await;
    let e = view(&s.sftp, &req("nope", AUTO)).await.unwrap_err();
    assert_eq!(e.to_string(), "Remote path does not exist: nope");
    let e = view(&s.sftp, &req("/dev/null", AUTO)).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "Remote path exists but is not a regular file: /dev/null"
    );
}

#[tokio::test]
async fn odd_names_are_plain_names() {
    let s = LocalSftp::start().await;
    for name in ["-dash.txt", "sp ace", "qu'ote\"", "new\nline"] {
        s.write(name, name.as_bytes());
        assert_eq!(file(&s, req(name, AUTO)).await.content, name.as_bytes());
    }
}

#[tokio::test]
async fn numbered_lines_are_cut_at_the_cap_with_a_note() {
    let s = LocalSftp::start().await;
    // Numbered, an empty line takes 8 bytes or more: these would pass 32 MiB.
    let lines = (MAX_CONTENT_BYTES as usize / 8) + 100_000;
    s.write("empty", &b"\n".repeat(lines));
    let mut r = req("empty", Mode::Full);
    r.line_numbers = true;
    let f = file(&s, r).await;
    // Line n takes its number (six columns at least), a tab and the newline.
    let width = |n: u64| n.to_string().len().max(6) as u64 + 2;
    let (mut shown, mut bytes) = (0u64, 0u64);
    while bytes + width(shown + 1) <= MAX_CONTENT_BYTES {
        shown += 1;
        bytes += width(shown);
    }
    assert_eq!(f.content.len() as u64, bytes);
    assert!(f.content.ends_with(format!("{shown:>6}\t\n").as_bytes()));
    assert_eq!((f.truncated, f.lines), (true, Some((1, shown))));
    assert_eq!(
        (f.total_lines, f.size_bytes),
        (Some(lines as u64), lines as u64)
    );
    let note = f.note.unwrap();
    assert!(
        note.contains(&format!("after line {shown}"))
            && note.contains(&format!("[{}, -1]", shown + 1)),
        "{note}"
    );
    // A range and the auto mode stop at the same cap.
    let mut r = req(
        "empty",
        Mode::Range {
            start: 10,
            end: None,
        },
    );
    r.line_numbers = true;
    let f = file(&s, r).await;
    assert!(f.content.len() as u64 <= MAX_CONTENT_BYTES);
    assert!(f.content.starts_with(b"    10\t\n"));
    let (_, last) = f.lines.unwrap();
    assert!(f.truncated && last > shown, "{last}");
    assert!(f.content.ends_with(format!("{last}\t\n").as_bytes()));
    let mut r = req(
        "empty",
        Mode::Auto {
            max_bytes: MAX_CONTENT_BYTES,
        },
    );
    r.line_numbers = true;
    let f = file(&s, r).await;
    assert_eq!((f.truncated, f.lines), (true, Some((1, shown))));
    // Below the cap nothing changes.
    let mut r = req(
        "empty",
        Mode::Range {
            start: 1,
            end: Some(2),
        },
    );
    r.line_numbers = true;
    let f = file(&s, r).await;
    assert_eq!(f.content, b"     1\t\n     2\t\n");
    assert_eq!((f.truncated, f.note), (false, None));
}
