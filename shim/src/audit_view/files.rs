//! The audit log on disk: `audit.jsonl` and its rotations `audit.jsonl.1` (newest) to
//! `audit.jsonl.3` (oldest). [`read_last`] finds the last records that match, reaching into the
//! rotations when the current file has too few; [`Follower`] then reads what the daemon appends,
//! across a rotation (the file renamed to `.1` and a new one created) and before the file exists.
//! Lines are split here, in bounded memory: a line longer than [`MAX_LINE`] is passed over and
//! reported by its length only.

use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::AuditError;
use super::record::{Entry, Line, Place, RawLine};

/// The current file's name in the state directory.
pub const AUDIT_FILE: &str = "audit.jsonl";

/// How many rotated files the daemon keeps (`audit.jsonl.1` .. `audit.jsonl.3`).
const ROTATIONS: u32 = 3;

/// The longest line kept. A record is one line of a few hundred bytes, a long command at most
/// 128 KiB; anything longer is damage, shown by its length.
pub const MAX_LINE: usize = 1 << 20;

/// Splits bytes into lines as they arrive; a line's start may come in one read and its end in
/// a later one.
#[derive(Debug, Default)]
struct LineSplitter {
    pending: Vec<u8>,
    /// The length of a line over [`MAX_LINE`] whose bytes are being passed over.
    skipping: Option<u64>,
    /// Lines completed so far.
    count: u64,
}

impl LineSplitter {
    fn feed(&mut self, mut bytes: &[u8], file: &str, out: &mut Vec<RawLine>) {
        while !bytes.is_empty() {
            let (part, ended) = match bytes.iter().position(|b| *b == b'\n') {
                Some(at) => (&bytes[..at], true),
                None => (bytes, false),
            };
            bytes = &bytes[(part.len() + usize::from(ended))..];
            if let Some(len) = &mut self.skipping {
                *len += part.len() as u64;
            } else if self.pending.len() + part.len() > MAX_LINE {
                self.skipping = Some((self.pending.len() + part.len()) as u64);
                self.pending = Vec::new();
            } else {
                self.pending.extend_from_slice(part);
            }
            if ended {
                self.count += 1;
                let line = match self.skipping.take() {
                    Some(len) => Line::TooLong(len),
                    None => Line::Bytes(std::mem::take(&mut self.pending)),
                };
                out.push(RawLine {
                    place: Place {
                        file: file.to_owned(),
                        line: self.count,
                    },
                    line,
                });
            }
        }
    }

    /// The bytes after the last newline, as a line of their own (the end of a file that will not
    /// grow any more).
    fn finish(&mut self, file: &str) -> Option<RawLine> {
        let line = match self.skipping.take() {
            Some(len) => Line::TooLong(len),
            None if self.pending.is_empty() => return None,
            None => Line::Bytes(std::mem::take(&mut self.pending)),
        };
        self.count += 1;
        Some(RawLine {
            place: Place {
                file: file.to_owned(),
                line: self.count,
            },
            line,
        })
    }
}

/// One file of the log, open, read up to `offset`.
#[derive(Debug)]
pub struct Source {
    path: PathBuf,
    /// The file's name when it was opened, for the rows that report a line.
    name: String,
    file: File,
    /// Device and inode: a rotation gives the path another file.
    id: (u64, u64),
    offset: u64,
    lines: LineSplitter,
}

impl Source {
    /// The file at `path`, or `None` when there is none.
    pub fn open(path: &Path) -> Result<Option<Self>, AuditError> {
        let unreadable = |source| AuditError::Read {
            path: path.to_owned(),
            error: source,
        };
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unreadable(e)),
        };
        let meta = file.metadata().map_err(unreadable)?;
        if meta.is_dir() {
            return Err(unreadable(io::Error::from(io::ErrorKind::IsADirectory)));
        }
        Ok(Some(Self {
            path: path.to_owned(),
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            file,
            id: (meta.dev(), meta.ino()),
            offset: 0,
            lines: LineSplitter::default(),
        }))
    }

    fn error(&self, source: io::Error) -> AuditError {
        AuditError::Read {
            path: self.path.clone(),
            error: source,
        }
    }

    /// Reads to the end of the file, giving each complete line to `each`. A file that became
    /// shorter than what was read (truncated in place) is read again from its start.
    fn read_available(&mut self, each: &mut impl FnMut(RawLine)) -> Result<(), AuditError> {
        let len = self.file.metadata().map_err(|e| self.error(e))?.len();
        if len < self.offset {
            self.file
                .seek(SeekFrom::Start(0))
                .map_err(|e| self.error(e))?;
            self.offset = 0;
            self.lines = LineSplitter::default();
        }
        let mut buf = vec![0u8; 64 * 1024];
        let mut lines = Vec::new();
        loop {
            let n = match self.file.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.error(e)),
            };
            self.offset += n as u64;
            self.lines.feed(&buf[..n], &self.name, &mut lines);
            lines.drain(..).for_each(&mut *each);
        }
    }

    /// Reads the file to its end, its last line included even without a newline.
    fn read_to_end(&mut self, each: &mut impl FnMut(RawLine)) -> Result<(), AuditError> {
        self.read_available(each)?;
        self.lines.finish(&self.name).into_iter().for_each(each);
        Ok(())
    }
}

/// The path of the current file (`rotation` 0) or of a rotated one.
pub fn log_path(dir: &Path, rotation: u32) -> PathBuf {
    match rotation {
        0 => dir.join(AUDIT_FILE),
        n => dir.join(format!("{AUDIT_FILE}.{n}")),
    }
}

/// What [`read_last`] found.
#[derive(Debug)]
pub struct LastEntries {
    /// The last entries that passed, oldest first.
    pub entries: Vec<Entry>,
    /// Whether any file of the log exists.
    pub any_file: bool,
    /// The current file, read to its last newline, for a [`Follower`] to go on with.
    pub current: Option<Source>,
}

/// The last `n` entries of the log in `dir` that `keep` passes, oldest first. The current file
/// is read first and the rotations, newest first, only while fewer than `n` were found.
/// With `follow`, a last line of the current file without its newline is left for the
/// follower (the daemon may be writing it); without, it counts if it parses as a record.
pub fn read_last(
    dir: &Path,
    n: usize,
    keep: impl Fn(&Entry) -> bool,
    follow: bool,
) -> Result<LastEntries, AuditError> {
    let mut found: VecDeque<Entry> = VecDeque::new();
    let mut any_file = false;
    // A file renamed while it is read (a rotation) is seen again under its new name: skip it.
    let mut seen = HashSet::new();
    let mut current = None;
    for rotation in 0..=ROTATIONS {
        if found.len() >= n && rotation > 0 {
            break;
        }
        let Some(mut source) = Source::open(&log_path(dir, rotation))? else {
            continue;
        };
        any_file = true;
        if !seen.insert(source.id) {
            continue;
        }
        // This file's last entries that pass, as many as are still wanted.
        let wanted = n - found.len();
        let mut kept = VecDeque::new();
        let mut offer = |entry: Entry| {
            if keep(&entry) {
                kept.push_back(entry);
                if kept.len() > wanted {
                    kept.pop_front();
                }
            }
        };
        source.read_available(&mut |raw| offer(Entry::parse(raw)))?;
        if rotation > 0 || !follow {
            // The newest file's unfinished line may be a record being written.
            let last = source.lines.finish(&source.name).map(Entry::parse);
            last.filter(|e| rotation > 0 || e.is_record())
                .into_iter()
                .for_each(offer);
        }
        // They come before everything found so far, in newer files.
        while let Some(entry) = kept.pop_back() {
            found.push_front(entry);
        }
        if rotation == 0 {
            current = Some(source);
        }
    }
    Ok(LastEntries {
        entries: found.into(),
        any_file,
        current,
    })
}

/// Reads what is appended to the current file, from where [`read_last`] stopped.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    current: Option<Source>,
}

impl Follower {
    pub fn new(dir: &Path, current: Option<Source>) -> Self {
        Self {
            path: log_path(dir, 0),
            current,
        }
    }

    /// The lines appended since the last poll. When the path holds another file than the one
    /// open (a rotation renamed it), the open one is read to its end first, then the new one
    /// from its start; while the path holds no file, the open one is still read.
    pub fn poll(&mut self) -> Result<Vec<RawLine>, AuditError> {
        let mut out = Vec::new();
        let now = match std::fs::metadata(&self.path) {
            Ok(meta) => Some((meta.dev(), meta.ino())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(AuditError::Read {
                    path: self.path.clone(),
                    error: source,
                });
            }
        };
        let replaced = now.is_some() && now != self.current.as_ref().map(|s| s.id);
        if replaced {
            if let Some(mut old) = self.current.take() {
                old.read_to_end(&mut |raw| out.push(raw))?;
            }
            self.current = Source::open(&self.path)?;
        }
        if let Some(source) = &mut self.current {
            source.read_available(&mut |raw| out.push(raw))?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
