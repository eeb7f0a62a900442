//! The registry on disk (`<state>/sessions.json`, 0600): one record per session, written when a
//! session starts and when it ends. A daemon that starts again reads it back, so sessions of the
//! previous daemon are listed as exited (`daemon-restarted` for those that were running) and their
//! transcripts stay readable through the session tools.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

pub const REGISTRY_FILE: &str = "sessions.json";

/// What is kept of one session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: String,
    pub name: Option<String>,
    pub target: String,
    pub auto_close: bool,
    /// Milliseconds since the Unix epoch.
    pub started_ms: u64,
    pub ended_ms: Option<u64>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub exit_reason: Option<String>,
    pub transcript_path: PathBuf,
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Writes `records` to `<state_dir>/sessions.json` through a temporary file and a rename, so a
/// crash leaves the old file or the new one, never half of one. Each save has a temporary name of
/// its own (pid and a counter), so two saves never write into one file; which one lands last is
/// for the caller to order (`registry.rs`).
pub fn save(state_dir: &Path, records: &[SessionRecord]) -> std::io::Result<()> {
    static SAVES: AtomicU64 = AtomicU64::new(0);
    let path = state_dir.join(REGISTRY_FILE);
    let n = SAVES.fetch_add(1, Ordering::Relaxed);
    let tmp = state_dir.join(format!(".{REGISTRY_FILE}.{}.{n}", std::process::id()));
    let text = serde_json::to_vec_pretty(records).map_err(std::io::Error::other)?;
    let written = write_private(&tmp, &text).and_then(|()| std::fs::rename(&tmp, &path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// `bytes` into a new 0600 file at `path`, synced.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_data()
}

/// Reads the records a previous daemon left; a missing or unreadable file means none.
pub fn load(state_dir: &Path) -> Vec<SessionRecord> {
    let path = state_dir.join(REGISTRY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(path = %path.display(), "ignoring an unreadable session registry: {e}");
            Vec::new()
        }),
        Err(_) => Vec::new(),
    }
}

/// The last `limit` bytes a transcript holds (its rotated part first), for a session that no
/// longer runs.
/// Only those bytes are read: a transcript may be far larger than the tail kept.
pub fn transcript_tail(path: &Path, limit: usize) -> Vec<u8> {
    let current = file_tail(path, limit);
    if current.len() >= limit {
        return current;
    }
    let rotated = path.with_file_name(super::transcript::ROTATED_TRANSCRIPT_FILE);
    let mut tail = file_tail(&rotated, limit - current.len());
    tail.extend_from_slice(&current);
    tail
}

/// The last `limit` bytes of the file at `path` (fewer when it is shorter; none when it cannot
/// be read).
fn file_tail(path: &Path, limit: usize) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let start = len.saturating_sub(limit as u64);
    let mut tail = Vec::with_capacity((len - start) as usize);
    let read = file
        .seek(SeekFrom::Start(start))
        .and_then(|_| file.take(limit as u64).read_to_end(&mut tail));
    if read.is_err() {
        tail.clear();
    }
    tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transcript_tail_reads_the_rotated_part_only_when_the_current_is_short() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(super::super::transcript::TRANSCRIPT_FILE);
        let rotated = dir
            .path()
            .join(super::super::transcript::ROTATED_TRANSCRIPT_FILE);
        assert_eq!(transcript_tail(&path, 4), b"");
        std::fs::write(&rotated, b"0123456789").unwrap();
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(transcript_tail(&path, 2), b"bc");
        assert_eq!(transcript_tail(&path, 3), b"abc");
        assert_eq!(transcript_tail(&path, 6), b"789abc");
        assert_eq!(transcript_tail(&path, 100), b"0123456789abc");
    }

    #[test]
    fn records_round_trip_through_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let r = SessionRecord {
            id: "abc".into(),
            name: Some("build".into()),
            target: "web".into(),
            auto_close: false,
            started_ms: 1,
            ended_ms: None,
            exit_code: None,
            signal: None,
            exit_reason: None,
            transcript_path: dir.path().join("abc/transcript.log"),
        };
        save(dir.path(), std::slice::from_ref(&r)).unwrap();
        assert_eq!(load(dir.path()), vec![r]);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(REGISTRY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(dir.path().join(REGISTRY_FILE), b"{not json").unwrap();
        assert!(load(dir.path()).is_empty());
    }

    #[test]
    fn parallel_saves_never_share_a_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let record = |i: u64| SessionRecord {
            id: format!("{i:016x}"),
            name: None,
            target: "web".into(),
            auto_close: false,
            started_ms: i,
            ended_ms: None,
            exit_code: None,
            signal: None,
            exit_reason: None,
            transcript_path: dir.path().join("t"),
        };
        std::thread::scope(|s| {
            for t in 0..8 {
                let dir = dir.path();
                s.spawn(move || {
                    for i in 0..50 {
                        save(dir, &[record(t * 100 + i)]).expect("every save succeeds");
                    }
                });
            }
        });
        assert_eq!(load(dir.path()).len(), 1);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, [REGISTRY_FILE], "no temporary file is left behind");
    }
}
