//! `ssh_view` over SFTP: a file's content (auto: at most `max_bytes`, cut on a character
//! boundary, read no further; full; or a line range, streamed) or a directory's listing. Stat
//! follows symlinks, like the seed's `[ -d ]` / `[ -f ]` tests.
//!
//! What a view returns is capped at [`MAX_CONTENT_BYTES`] after line numbers are added (they
//! can make a file of short lines eight times larger): numbered lines are made as the file
//! streams in and stop at the cap, between two lines, with `truncated`, the lines shown and a
//! note that says how to see the rest. A directory's listing is `list.rs`; the tests are in
//! `tests.rs`.

use std::ops::ControlFlow;

use openssh_sftp_client::Sftp;

use super::listing::{self, Listing};
use super::render::{self, LineRange};
use super::{messages, read, remote_path, sftp_errors};
use crate::error::DaemonError;
use list::{ListError, list};

mod list;

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

#[cfg(test)]
mod tests;
