//! `ssh_view` over SFTP: a file's content (auto: at most `max_bytes`, cut on a character
//! boundary, read no further; full; or a line range, streamed) or a directory's listing. Stat
//! follows symlinks, like the seed's `[ -d ]` / `[ -f ]` tests.
//!
//! What a view returns is capped at [`MAX_CONTENT_BYTES`] after line numbers are added (they
//! can make a file of short lines eight times larger): numbered lines are made as the file
//! streams in and stop at the cap, between two lines, with `truncated`, the lines shown and a
//! note that says how to see the rest.

use std::ops::ControlFlow;

use openssh_sftp_client::Sftp;
use tokio_stream::StreamExt;

use super::listing::{self, Entry, Kind, Listing};
use super::render::{self, LineRange};
use super::{messages, read, remote_path, sftp_errors};
use crate::error::DaemonError;

/// The most a view returns (and a full or range read reads): more than any agent can use.
pub const MAX_CONTENT_BYTES: u64 = 32 << 20;

/// How much of a file a range view reads past its range to count the file's lines.
const COUNT_LINES_BYTES: u64 = 64 << 20;

/// Entries looked at while listing before giving up on the rest.
const MAX_SCANNED: usize = 20 * listing::MAX_ENTRIES;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The first `max_bytes` bytes (the seed's default, 20480).
    Auto {
        max_bytes: u64,
    },
    Full,
    /// Lines `start..=end`, 1-based; `end` None for the end of the file.
    Range {
        start: u64,
        end: Option<u64>,
    },
}

#[derive(Debug, Clone)]
pub struct ViewRequest {
    pub path: String,
    pub mode: Mode,
    pub line_numbers: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub struct FileView {
    pub content: Vec<u8>,
    pub size_bytes: u64,
    /// Absent when the rest of the file was not read (an auto view that was cut, or a range
    /// that ends early in a file larger than `COUNT_LINES_BYTES`).
    pub total_lines: Option<u64>,
    pub truncated: bool,
    /// The range shown, the end clamped to the end of the file (range mode, and any view whose
    /// numbered lines were cut at the cap).
    pub lines: Option<(u64, u64)>,
    /// Why the content stops early, and how to see the rest (numbered lines cut at the cap).
    pub note: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Viewed {
    File(FileView),
    Directory(Listing),
    /// A directory SFTP cannot list (a name in it is not valid UTF-8, which ends the session):
    /// `shell_listing` lists it by `find` on the host instead.
    NeedsShellListing,
}

pub async fn view(sftp: &Sftp, req: &ViewRequest) -> Result<Viewed, DaemonError> {
    let path = req.path.as_str();
    let remote = remote_path::for_sftp(path);
    let mut fs = sftp.fs();
    let meta = fs
        .metadata(&remote)
        .await
        .map_err(|e| sftp_errors::file_error(path, &e))?;
    let kind = meta.file_type();
    if kind.is_some_and(|k| k.is_dir()) {
        return match list(sftp, path).await {
            Err(ListError::NotUtf8) => Ok(Viewed::NeedsShellListing),
            Err(ListError::Failed(e)) => Err(e),
            Ok(listing) => Ok(Viewed::Directory(listing)),
        };
    }
    if !kind.is_some_and(|k| k.is_file()) {
        return Err(messages::not_regular(path));
    }
    let size = meta.len().unwrap_or(0);
    let mut file = sftp
        .options()
        .read(true)
        .open(&remote)
        .await
        .map_err(|e| sftp_errors::file_error(path, &e))?;
    let view = match req.mode {
        Mode::Auto { max_bytes } => {
            auto(&mut file, max_bytes, size, req.line_numbers, path).await?
        }
        Mode::Full => full(&file, size, req.line_numbers, path).await?,
        Mode::Range { start, end } => {
            range(&file, start, end, size, req.line_numbers, path).await?
        }
    };
    Ok(Viewed::File(view))
}

/// The output cap, as a buffer length.
fn cap() -> usize {
    usize::try_from(MAX_CONTENT_BYTES).unwrap_or(usize::MAX)
}

/// The note of a view whose numbered lines stopped at the cap after line `last`.
fn numbering_cut(last: u64) -> String {
    format!(
        "Numbered lines stop after line {last}: with line numbers the content reached the {} MiB \
         a view returns. view_range [{}, -1] continues from there.",
        MAX_CONTENT_BYTES >> 20,
        last + 1
    )
}

/// Auto mode: the first `max_bytes` bytes, cut on a character boundary (and numbered).
async fn auto(
    file: &mut openssh_sftp_client::file::File,
    max_bytes: u64,
    size: u64,
    line_numbers: bool,
    path: &str,
) -> Result<FileView, DaemonError> {
    let max = usize::try_from(max_bytes.min(MAX_CONTENT_BYTES)).unwrap_or(usize::MAX);
    // Three bytes more show whether a character crosses the cut.
    let mut content = read::prefix(file, max.saturating_add(3), size, path).await?;
    let truncated = content.len() > max;
    if truncated {
        content.truncate(render::char_boundary_cut(&content, max));
    }
    let mut view = FileView {
        size_bytes: if truncated {
            size.max(max as u64 + 1)
        } else {
            content.len() as u64
        },
        total_lines: (!truncated).then(|| render::count_lines(&content)),
        truncated,
        content,
        lines: None,
        note: None,
    };
    if line_numbers {
        let mut numbered = render::Numbered::new(1, cap());
        numbered.feed(&view.content);
        let n = numbered.finish();
        if n.cut {
            view.truncated = true;
            view.lines = Some((1, n.last_line));
            view.note = Some(numbering_cut(n.last_line));
        }
        view.content = n.content;
    }
    Ok(view)
}

/// The whole file (up to the cap), numbered as it streams in when asked.
async fn full(
    file: &openssh_sftp_client::file::File,
    size: u64,
    line_numbers: bool,
    path: &str,
) -> Result<FileView, DaemonError> {
    if !line_numbers {
        let content = read::all(file, size, MAX_CONTENT_BYTES, path).await?;
        return Ok(FileView {
            size_bytes: content.len() as u64,
            total_lines: Some(render::count_lines(&content)),
            truncated: false,
            content,
            lines: None,
            note: None,
        });
    }
    // Numbered lines stop at the cap; the rest of the file is still read, to count its lines.
    let mut numbered = render::Numbered::new(1, cap());
    let mut lines = render::LineCount::default();
    let total = read::chunks(file, size, MAX_CONTENT_BYTES, path, |c| {
        numbered.feed(c);
        lines.feed(c);
        Ok(ControlFlow::Continue(()))
    })
    .await?;
    let n = numbered.finish();
    Ok(FileView {
        content: n.content,
        size_bytes: total,
        total_lines: Some(lines.total()),
        truncated: n.cut,
        lines: n.cut.then_some((1, n.last_line)),
        note: n.cut.then(|| numbering_cut(n.last_line)),
    })
}

/// Lines `start..=end`, streamed: only the range is kept (numbered when asked).
async fn range(
    file: &openssh_sftp_client::file::File,
    start: u64,
    end: Option<u64>,
    size: u64,
    line_numbers: bool,
    path: &str,
) -> Result<FileView, DaemonError> {
    let mut range = match line_numbers {
        true => LineRange::numbered(start, end, cap()),
        false => LineRange::new(start, end),
    };
    // The rest of the file is read to count its lines, up to COUNT_LINES_BYTES: past that (a
    // large log), the read ends with the range.
    let mut read_bytes = 0u64;
    let mut cut_short = false;
    let total = read::chunks(file, size, u64::MAX, path, |c| {
        range.feed(c);
        read_bytes += c.len() as u64;
        if range.kept_len() as u64 > MAX_CONTENT_BYTES {
            return Err(read::too_large(path, MAX_CONTENT_BYTES));
        }
        cut_short = range.past_end() && read_bytes >= COUNT_LINES_BYTES && read_bytes < size;
        Ok(if cut_short {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    })
    .await?;
    let r = range.finish(!cut_short);
    Ok(FileView {
        content: r.content,
        size_bytes: if cut_short { size } else { total },
        total_lines: r.total_lines,
        truncated: r.cut,
        lines: Some((start, r.end_line)),
        note: r.cut.then(|| numbering_cut(r.end_line)),
    })
}

enum ListError {
    /// The session ended while reading names: one of them is not valid UTF-8.
    NotUtf8,
    Failed(DaemonError),
}

impl From<DaemonError> for ListError {
    fn from(e: DaemonError) -> Self {
        Self::Failed(e)
    }
}

/// The seed's directory listing: non-hidden entries to depth 2, sorted, bounded. Paths are shown
/// from the path as given.
async fn list(sftp: &Sftp, path: &str) -> Result<Listing, ListError> {
    let mut entries = Vec::new();
    let mut more = false;
    let mut pending = vec![(path.to_owned(), remote_path::for_sftp(path), 1usize)];
    while let Some((shown, remote, depth)) = pending.pop() {
        let mut fs = sftp.fs();
        let handle = match fs.open_dir(&remote).await {
            Ok(h) => h,
            // The top must open; a subdirectory we may not read is listed but not entered.
            Err(e) if depth == 1 => return Err(sftp_errors::file_error(path, &e).into()),
            Err(_) => continue,
        };
        let stream = handle.read_dir();
        tokio::pin!(stream);
        while let Some(entry) = stream.next().await {
            let entry = entry.map_err(|e| match e {
                // The client reads names as UTF-8; another name fails its reader task.
                openssh_sftp_client::Error::BackgroundTaskFailure(_) => ListError::NotUtf8,
                e => ListError::Failed(sftp_errors::file_error(path, &e)),
            })?;
            let name = entry.filename().to_string_lossy().into_owned();
            if !listing::is_listed(&name) {
                continue;
            }
            if entries.len() >= MAX_SCANNED {
                more = true;
                break;
            }
            let child = listing::child_path(&shown, &name);
            let child_remote = remote.join(entry.filename());
            let is_link = entry.file_type().is_some_and(|t| t.is_symlink());
            let kind = match entry.file_type() {
                Some(t) if t.is_dir() => Kind::Directory,
                _ if is_link => symlink_kind(sftp, &child_remote).await,
                _ => Kind::File,
            };
            if kind == Kind::Directory && depth < listing::DEPTH && !is_link {
                pending.push((child.clone(), child_remote, depth + 1));
            }
            entries.push(Entry { path: child, kind });
        }
        if more {
            break;
        }
    }
    Ok(listing::finish(entries, listing::MAX_ENTRIES, more))
}

/// A symlink is shown as what it points to (like `[ -d ]`), but never entered (like `find`).
async fn symlink_kind(sftp: &Sftp, remote: &std::path::Path) -> Kind {
    match sftp.fs().metadata(remote).await {
        Ok(m) if m.file_type().is_some_and(|t| t.is_dir()) => Kind::Directory,
        _ => Kind::File,
    }
}

#[cfg(test)]
mod tests {
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
}
