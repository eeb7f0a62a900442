//! The audit trail: one JSON line per tool call in `<state dir>/audit.jsonl` (mode 0600), with
//! who called, what, on which target, what the policy decided, and how it ended. Rotated by
//! size: the full file becomes `audit.jsonl.1`, the older ones move up, [`KEEP_ROTATED`] are
//! kept. A line is written before the call's reply is sent; a failure to write is logged and
//! counted for `ssh-mcp daemon status`, never skipped silently.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// The file's size past which it is rotated.
pub const ROTATE_BYTES: u64 = 10 << 20;
/// Rotated files kept (`audit.jsonl.1` … `.3`).
pub const KEEP_ROTATED: usize = 3;

/// One call, as the trail keeps it (see README, "Policy and audit").
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Record {
    /// RFC 3339, UTC, milliseconds.
    pub time: String,
    /// `name/version` of the MCP client, or empty.
    pub client: String,
    pub pid: Option<u32>,
    pub tool: String,
    pub class: &'static str,
    pub target: Option<String>,
    /// allowed, approved, declined or denied; null for a call refused as invalid before the
    /// policy looked at it.
    pub decision: Option<&'static str>,
    /// The deciding `[[target]]`'s `match`, or null for `[default]`.
    pub rule: Option<String>,
    pub summary: String,
    /// ok or error.
    pub outcome: &'static str,
    pub exit_code: Option<i32>,
    pub error_type: Option<String>,
    pub duration_ms: u64,
}

/// The writer of one daemon's trail.
pub struct Audit {
    path: PathBuf,
    file: Mutex<Option<File>>,
    failures: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Audit {
    pub fn new(state_dir: &Path) -> Self {
        Self {
            path: state_dir.join("audit.jsonl"),
            file: Mutex::new(None),
            failures: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record`; a failure is logged and counted.
    pub fn write(&self, record: &Record) {
        if let Err(e) = self.append(record) {
            self.failures.fetch_add(1, Ordering::Relaxed);
            let message = format!("cannot write the audit trail {}: {e}", self.path.display());
            tracing::error!("{message}");
            *lock(&self.last_error) = Some(message);
        }
    }

    /// Writes that failed since start, and the last failure's message.
    pub fn failures(&self) -> (u64, Option<String>) {
        (
            self.failures.load(Ordering::Relaxed),
            lock(&self.last_error).clone(),
        )
    }

    fn append(&self, record: &Record) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        let mut slot = lock(&self.file);
        if slot.is_none() {
            *slot = Some(self.open()?);
        }
        let size = match slot.as_ref() {
            Some(f) => f.metadata()?.len(),
            None => 0,
        };
        if size > 0 && size + line.len() as u64 > ROTATE_BYTES {
            *slot = None;
            self.rotate()?;
            *slot = Some(self.open()?);
        }
        match slot.as_mut() {
            // One write of the whole line on an O_APPEND file: lines never interleave.
            Some(f) => f.write_all(&line),
            None => Ok(()),
        }
    }

    fn open(&self) -> std::io::Result<File> {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)?;
        // A file made by someone else, or before modes were set: private all the same.
        let meta = f.metadata()?;
        if meta.permissions().mode() & 0o077 != 0 {
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(f)
    }

    fn rotate(&self) -> std::io::Result<()> {
        let numbered = |n: usize| PathBuf::from(format!("{}.{n}", self.path.display()));
        for n in (1..KEEP_ROTATED).rev() {
            let from = numbered(n);
            if from.exists() {
                std::fs::rename(&from, numbered(n + 1))?;
            }
        }
        std::fs::rename(&self.path, numbered(1))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Now, as the trail writes times.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(summary: &str) -> Record {
        Record {
            time: now_rfc3339(),
            client: "mcp/0.1.0".into(),
            pid: Some(7),
            tool: "ssh_exec".into(),
            class: "exec",
            target: Some("web".into()),
            decision: Some("allowed"),
            rule: None,
            summary: summary.into(),
            outcome: "ok",
            exit_code: Some(0),
            error_type: None,
            duration_ms: 3,
        }
    }

    #[test]
    fn lines_are_json_and_the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::new(dir.path());
        audit.write(&record("uname -a"));
        audit.write(&record("id"));
        let text = std::fs::read_to_string(audit.path()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["summary"], "id");
        assert_eq!(lines[0]["exit_code"], 0);
        assert!(lines[0]["time"].as_str().unwrap().ends_with('Z'));
        let mode = std::fs::metadata(audit.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(audit.failures().0, 0);
    }

    #[test]
    fn a_full_file_rotates_and_old_ones_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::new(dir.path());
        let big = "x".repeat(1 << 20);
        for _ in 0..(ROTATE_BYTES as usize / (1 << 20)) * (KEEP_ROTATED + 2) {
            audit.write(&record(&big));
        }
        for n in 1..=KEEP_ROTATED {
            let rotated = dir.path().join(format!("audit.jsonl.{n}"));
            assert!(std::fs::metadata(&rotated).unwrap().len() <= ROTATE_BYTES);
        }
        assert!(
            !dir.path()
                .join(format!("audit.jsonl.{}", KEEP_ROTATED + 1))
                .exists()
        );
        assert!(std::fs::metadata(audit.path()).unwrap().len() <= ROTATE_BYTES);
    }

    #[test]
    fn a_failure_to_write_is_counted_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::new(&dir.path().join("missing"));
        audit.write(&record("x"));
        let (n, why) = audit.failures();
        assert_eq!(n, 1);
        assert!(why.unwrap().contains("audit.jsonl"));
    }
}
