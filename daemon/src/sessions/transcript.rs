//! [`Transcript`]: a session's raw output on disk, for people who want to follow it with
//! `tail -f`. The file is `<dir>/transcript.log`, mode 0600, in a directory that is created
//! 0700 (or refused if someone else's or open to others). When the file reaches its cap it
//! becomes `transcript.log.1` (replacing the previous one) and a new file starts, so a
//! session's transcript never takes more than twice the cap on disk.
//!
//! The transcript is a convenience, never a reason to fail a session: the first write error is
//! logged and turns the transcript off for the rest of the session.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ssh_mcp_core::paths::{PathError, ensure_private_dir};

/// The cap of one transcript file when the configuration does not say otherwise.
pub const DEFAULT_TRANSCRIPT_CAP: u64 = 16 * 1024 * 1024;
/// Smaller caps are raised to this, so that rotation stays rare compared with writes.
pub const MIN_TRANSCRIPT_CAP: u64 = 4096;
pub const TRANSCRIPT_FILE: &str = "transcript.log";
pub const ROTATED_TRANSCRIPT_FILE: &str = "transcript.log.1";
/// Output is written in blocks this big, or when the session task calls [`Transcript::flush`].
const BUFFER_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum TranscriptError {
    #[error("transcript directory: {0}")]
    Dir(#[from] PathError),
    #[error("cannot open the transcript {}: {source}", path.display())]
    Open { path: PathBuf, source: io::Error },
}

/// The open transcript of one session, owned by the session's task.
#[derive(Debug)]
pub struct Transcript {
    path: PathBuf,
    rotated: PathBuf,
    cap: u64,
    /// `None` once a write failed: the transcript stays off from then on.
    file: Option<BufWriter<File>>,
    /// Bytes in the current file, buffered ones included.
    size: u64,
    /// What turned the transcript off, until the owner has reported it ([`Transcript::new_error`]).
    unreported: Option<String>,
}

impl Transcript {
    /// Opens (appending) or creates `<dir>/transcript.log`, creating `dir` 0700 if missing.
    pub fn open(dir: &Path, cap: u64) -> Result<Self, TranscriptError> {
        ensure_private_dir(dir)?;
        let path = dir.join(TRANSCRIPT_FILE);
        let file = open_private(&path).map_err(|source| TranscriptError::Open {
            path: path.clone(),
            source,
        })?;
        let size = file
            .metadata()
            .map_err(|source| TranscriptError::Open {
                path: path.clone(),
                source,
            })?
            .len();
        Ok(Self {
            rotated: dir.join(ROTATED_TRANSCRIPT_FILE),
            path,
            cap: cap.max(MIN_TRANSCRIPT_CAP),
            file: Some(BufWriter::with_capacity(BUFFER_BYTES, file)),
            size,
            unreported: None,
        })
    }

    /// A transcript that could not be opened (`error` says why): the session goes on without
    /// one, and the error is reported like a write error.
    pub fn off(dir: &Path, error: String) -> Self {
        Self {
            path: dir.join(TRANSCRIPT_FILE),
            rotated: dir.join(ROTATED_TRANSCRIPT_FILE),
            cap: MIN_TRANSCRIPT_CAP,
            file: None,
            size: 0,
            unreported: Some(error),
        }
    }

    /// The error that turned the transcript off, once: the first call after it happened.
    pub fn new_error(&mut self) -> Option<String> {
        self.unreported.take()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// False once a write error turned the transcript off.
    pub fn is_enabled(&self) -> bool {
        self.file.is_some()
    }

    /// Appends output, rotating whenever the current file reaches the cap.
    pub fn write(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && self.file.is_some() {
            if self.size >= self.cap {
                let rotated = self.rotate();
                self.check(rotated);
                continue;
            }
            let room = usize::try_from(self.cap - self.size).unwrap_or(usize::MAX);
            let (now, later) = bytes.split_at(room.min(bytes.len()));
            if let Some(file) = self.file.as_mut() {
                let written = file.write_all(now);
                self.check(written);
            }
            self.size += now.len() as u64;
            bytes = later;
        }
    }

    /// Writes out what is buffered, so that a reader of the file sees it.
    pub fn flush(&mut self) {
        if let Some(file) = self.file.as_mut() {
            let flushed = file.flush();
            self.check(flushed);
        }
    }

    fn rotate(&mut self) -> io::Result<()> {
        if let Some(file) = self.file.as_mut() {
            file.flush()?;
        }
        fs::rename(&self.path, &self.rotated)?;
        self.file = Some(BufWriter::with_capacity(
            BUFFER_BYTES,
            open_private(&self.path)?,
        ));
        self.size = 0;
        Ok(())
    }

    /// Turns the transcript off after the first error, saying so once.
    fn check(&mut self, result: io::Result<()>) {
        if let Err(error) = result {
            tracing::warn!(
                path = %self.path.display(),
                %error,
                "session transcript turned off after a write error; the session goes on without it"
            );
            // Dropping the writer would try to flush again; the error is already known.
            if let Some(file) = self.file.take() {
                let (_file, _unwritten) = file.into_parts();
                self.unreported = Some(error.to_string());
            }
        }
    }
}

/// Opens `path` for appending, creating it 0600; never follows a symlink planted there. A file
/// left by an older daemon with a looser mode is tightened.
fn open_private(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn creates_a_private_file_in_a_private_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sessions").join("s1");
        let mut transcript = Transcript::open(&dir, DEFAULT_TRANSCRIPT_CAP).unwrap();
        transcript.write(b"$ echo hi\r\nhi\r\n");
        transcript.flush();
        assert_eq!(transcript.path(), dir.join(TRANSCRIPT_FILE));
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(transcript.path()), 0o600);
        assert_eq!(fs::read(transcript.path()).unwrap(), b"$ echo hi\r\nhi\r\n");
    }

    #[test]
    fn refuses_a_directory_open_to_others() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("open");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let err = Transcript::open(&dir, DEFAULT_TRANSCRIPT_CAP).unwrap_err();
        assert!(matches!(err, TranscriptError::Dir(_)), "{err}");
    }

    #[test]
    fn does_not_follow_a_symlink_planted_as_the_transcript() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        let target = tmp.path().join("elsewhere");
        fs::write(&target, b"precious").unwrap();
        symlink(&target, dir.join(TRANSCRIPT_FILE)).unwrap();
        let err = Transcript::open(&dir, DEFAULT_TRANSCRIPT_CAP).unwrap_err();
        assert!(matches!(err, TranscriptError::Open { .. }), "{err}");
        assert_eq!(fs::read(&target).unwrap(), b"precious");
    }

    #[test]
    fn appends_to_an_existing_transcript_and_tightens_its_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        drop(Transcript::open(&dir, DEFAULT_TRANSCRIPT_CAP).unwrap());
        let path = dir.join(TRANSCRIPT_FILE);
        fs::write(&path, b"before\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let mut transcript = Transcript::open(&dir, DEFAULT_TRANSCRIPT_CAP).unwrap();
        transcript.write(b"after\n");
        transcript.flush();
        assert_eq!(fs::read(&path).unwrap(), b"before\nafter\n");
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn rotates_at_the_cap_and_keeps_the_newest_output_within_twice_the_cap() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        let cap = 10_000;
        let mut transcript = Transcript::open(&dir, cap).unwrap();
        let mut all = Vec::new();
        for i in 0..3_000u32 {
            let line = format!("line {i} of a session that prints far more than its cap\n");
            transcript.write(line.as_bytes());
            all.extend_from_slice(line.as_bytes());
        }
        transcript.flush();
        let current = fs::read(dir.join(TRANSCRIPT_FILE)).unwrap();
        let rotated = fs::read(dir.join(ROTATED_TRANSCRIPT_FILE)).unwrap();
        assert!(all.len() > 10 * cap as usize);
        assert!(current.len() as u64 <= cap);
        assert_eq!(rotated.len() as u64, cap);
        assert_eq!(mode(&dir.join(ROTATED_TRANSCRIPT_FILE)), 0o600);
        let kept = [rotated, current].concat();
        assert!(
            all.ends_with(&kept),
            "the files hold the newest output, in order"
        );
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2);
    }

    #[test]
    fn one_write_larger_than_the_cap_is_split_across_rotations() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        let mut transcript = Transcript::open(&dir, MIN_TRANSCRIPT_CAP).unwrap();
        let big: Vec<u8> = (0..50_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        transcript.write(&big);
        transcript.flush();
        let current = fs::read(dir.join(TRANSCRIPT_FILE)).unwrap();
        let rotated = fs::read(dir.join(ROTATED_TRANSCRIPT_FILE)).unwrap();
        assert_eq!(rotated.len() as u64, MIN_TRANSCRIPT_CAP);
        assert!(big.ends_with(&[rotated, current].concat()));
    }

    #[test]
    fn a_write_error_turns_the_transcript_off_without_failing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        let mut transcript = Transcript::open(&dir, MIN_TRANSCRIPT_CAP).unwrap();
        transcript.write(b"kept\n");
        assert!(transcript.is_enabled());
        // Rotation needs the directory; without it the transcript gives up, quietly.
        fs::remove_dir_all(&dir).unwrap();
        transcript.write(&[b'x'; 3 * MIN_TRANSCRIPT_CAP as usize]);
        assert!(!transcript.is_enabled());
        transcript.write(b"more\n");
        transcript.flush();
        assert!(!dir.exists());
    }
}
