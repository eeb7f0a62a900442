//! How long an ended session is kept, and its transcript with it. An ended session stays listed
//! for [`KEEP_EXITED`] ([`KEEP_EXITED_AUTO_CLOSE`] with `auto_close`); when the registry prunes
//! it, its transcript folder (`<state>/<session_id>/`, up to two 16 MiB files) goes too. At
//! start-up, folders of sessions that no registry lists any more (a daemon that died before
//! pruning, a lost `sessions.json`) are swept once nothing has written to them for
//! [`KEEP_EXITED`].
//!
//! Only folders shaped like a session's are touched: a name of [`ID_LEN`] lowercase hex digits,
//! holding nothing but transcript files.

use std::path::Path;
use std::time::{Duration, SystemTime};

use super::transcript::{ROTATED_TRANSCRIPT_FILE, TRANSCRIPT_FILE};

pub const KEEP_EXITED: Duration = Duration::from_secs(3600);
pub const KEEP_EXITED_AUTO_CLOSE: Duration = Duration::from_secs(300);
/// A session id: 16 hex digits (`exec::nonce`).
pub const ID_LEN: usize = 16;

/// How long a session that ended is kept.
pub fn keep(auto_close: bool) -> Duration {
    if auto_close {
        KEEP_EXITED_AUTO_CLOSE
    } else {
        KEEP_EXITED
    }
}

/// Whether `name` can be a session id.
fn is_session_id(name: &str) -> bool {
    name.len() == ID_LEN && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `dir` holds only transcript files; the newest modification time in it.
fn transcript_folder(dir: &Path) -> Option<SystemTime> {
    let mut newest = std::fs::metadata(dir).and_then(|m| m.modified()).ok()?;
    for entry in std::fs::read_dir(dir).ok()? {
        let entry = entry.ok()?;
        let name = entry.file_name();
        if name != TRANSCRIPT_FILE && name != ROTATED_TRANSCRIPT_FILE {
            return None;
        }
        let modified = entry.metadata().and_then(|m| m.modified()).ok()?;
        newest = newest.max(modified);
    }
    Some(newest)
}

/// Removes the transcript folder of session `id` (a pruned session). Logged, never fatal.
pub fn remove_transcripts(state_dir: &Path, id: &str) {
    if !is_session_id(id) {
        return;
    }
    let dir = state_dir.join(id);
    if transcript_folder(&dir).is_none() {
        return;
    }
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => tracing::debug!(dir = %dir.display(), "transcripts of a pruned session removed"),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), "cannot remove a pruned session's transcripts: {e}")
        }
    }
}

/// Removes the transcript folders in `state_dir` of sessions not in `listed` that nothing has
/// written to for [`KEEP_EXITED`]. Returns how many went.
pub fn sweep(state_dir: &Path, listed: &[String]) -> usize {
    let Ok(entries) = std::fs::read_dir(state_dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(id) = name.to_str() else { continue };
        if !is_session_id(id) || listed.iter().any(|l| l == id) {
            continue;
        }
        let old = transcript_folder(&entry.path())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= KEEP_EXITED);
        if old && std::fs::remove_dir_all(entry.path()).is_ok() {
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::info!(
            removed,
            "transcripts of sessions no longer listed were swept"
        );
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(state: &Path, id: &str, files: &[&str], age: Duration) {
        let dir = state.join(id);
        std::fs::create_dir(&dir).unwrap();
        let when = SystemTime::now() - age;
        for f in files {
            let file = std::fs::File::create(dir.join(f)).unwrap();
            file.set_modified(when).unwrap();
        }
        std::fs::File::open(&dir)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }

    #[test]
    fn the_sweep_takes_only_old_unlisted_transcript_folders() {
        let state = tempfile::tempdir().unwrap();
        let s = state.path();
        let hour = Duration::from_secs(3700);
        folder(
            s,
            "00000000000000a1",
            &[TRANSCRIPT_FILE, ROTATED_TRANSCRIPT_FILE],
            hour,
        );
        folder(s, "00000000000000a2", &[TRANSCRIPT_FILE], hour);
        folder(s, "00000000000000a3", &[TRANSCRIPT_FILE], Duration::ZERO);
        folder(s, "00000000000000a4", &[TRANSCRIPT_FILE, "notes.txt"], hour);
        folder(s, "not-a-session-id", &[TRANSCRIPT_FILE], hour);
        let listed = ["00000000000000a2".to_owned()];
        assert_eq!(sweep(s, &listed), 1);
        let left: Vec<bool> = ["a1", "a2", "a3", "a4"]
            .iter()
            .map(|t| s.join(format!("00000000000000{t}")).exists())
            .collect();
        assert_eq!(left, [false, true, true, true]);
        assert!(s.join("not-a-session-id").exists());
    }

    #[test]
    fn a_pruned_sessions_folder_goes_at_once() {
        let state = tempfile::tempdir().unwrap();
        let s = state.path();
        folder(s, "00000000000000b1", &[TRANSCRIPT_FILE], Duration::ZERO);
        remove_transcripts(s, "00000000000000b1");
        assert!(!s.join("00000000000000b1").exists());
        remove_transcripts(s, "../escape");
    }
}
