//! [`Journal`]: the record, on disk, of the remote commands and session shells running now, so
//! that a daemon that starts after a crash can end what the crashed one left on its hosts
//! (`orphans.rs` does that). The file is `<state>/running.journal` (0600), one JSON line per
//! event: `begin` (before the command is opened on its host: its nonce, what it is, and the
//! connection that reaches the host), `pid` (its process group, once reported) and `end` (once
//! it has ended, or been ended).
//!
//! Why these costs: every line is written with one `write(2)` before the step it records goes
//! ahead, so a daemon killed at any point leaves it in the kernel's hands; a sync task then
//! `fdatasync`s the file, batching every line written meanwhile, so the command's own path never
//! waits for the disk (a sync costs milliseconds here, a command's round trip not many more). A
//! machine that loses power can lose the last lines before their sync. The file is compacted
//! (rewritten with the entries still running) when it grows past [`COMPACT_AT`] and at start-up.
//!
//! A journal that cannot be written (a full disk, a read-only state directory) never stops a
//! command: the error is logged once per state, and the entry is kept in memory only.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use ssh_mcp_core::ssh::options::connection::{Connection, RawConnection};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub const JOURNAL_FILE: &str = "running.journal";

/// The size past which the file is rewritten with only the entries still running.
const COMPACT_AT: u64 = 1 << 20;

/// What kind of remote process an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A command of ssh_exec, or a helper script of a file tool.
    Command,
    /// The shell of a persistent session.
    Session,
}

/// The connection of an entry, as the request fields that parse back into it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SavedConnection {
    pub target: String,
    pub port: Option<u32>,
    pub identity_file: Option<String>,
    pub known_hosts_file: Option<String>,
    pub strict_host_key_checking: Option<String>,
    pub extra_ssh_args: Vec<String>,
}

impl SavedConnection {
    pub fn of(conn: &Connection) -> Self {
        let raw = conn.to_raw();
        Self {
            target: raw.target,
            port: raw.port,
            identity_file: raw.identity_file,
            known_hosts_file: raw.known_hosts_file,
            strict_host_key_checking: raw.strict_host_key_checking,
            extra_ssh_args: raw.extra_ssh_args,
        }
    }

    pub fn to_raw(&self) -> RawConnection {
        RawConnection {
            target: self.target.clone(),
            port: self.port,
            identity_file: self.identity_file.clone(),
            known_hosts_file: self.known_hosts_file.clone(),
            strict_host_key_checking: self.strict_host_key_checking.clone(),
            extra_ssh_args: self.extra_ssh_args.clone(),
        }
    }
}

/// One running remote process, as the journal knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Running {
    /// The nonce of its pid report (hex), which also stands in its remote command line.
    pub nonce: String,
    pub kind: Kind,
    pub connection: SavedConnection,
    /// The agent socket of the call that started it (to reach the host again with the same keys).
    pub auth_sock: Option<String>,
    /// Milliseconds since the Unix epoch, when the entry began.
    pub began_ms: u64,
    /// Its remote process group, once reported.
    pub pgid: Option<u32>,
    /// Milliseconds since the Unix epoch, when the process group was reported.
    pub pgid_ms: Option<u64>,
}

/// One line of the file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Line {
    Begin(Running),
    Pid {
        nonce: String,
        pgid: u32,
        at_ms: u64,
    },
    End {
        nonce: String,
    },
}

struct Inner {
    path: PathBuf,
    /// `None` while the file cannot be written.
    file: Option<File>,
    written: u64,
    running: HashMap<String, Running>,
    /// The last write error logged, so a full disk is logged once, not per command.
    failing: Option<std::io::ErrorKind>,
}

/// The journal: a cheap clone; one per daemon.
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Mutex<Inner>>,
    dirty: Arc<Notify>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Journal")
    }
}

impl Journal {
    /// Opens the journal in `state_dir`: returns it with the entries a previous daemon left
    /// running (none after a clean exit), which stay in the journal until [`Journal::end`].
    pub fn open(state_dir: &Path) -> (Self, Vec<Running>) {
        let path = state_dir.join(JOURNAL_FILE);
        let left = read_running(&path);
        let running: HashMap<String, Running> =
            left.iter().map(|r| (r.nonce.clone(), r.clone())).collect();
        let mut inner = Inner {
            path,
            file: None,
            written: 0,
            running,
            failing: None,
        };
        inner.compact();
        let journal = Self {
            inner: Arc::new(Mutex::new(inner)),
            dirty: Arc::new(Notify::new()),
        };
        (journal, left)
    }

    /// Starts the task that syncs the file after writes, until `stop` (with one last sync).
    pub fn spawn_sync(&self, tracker: &TaskTracker, stop: CancellationToken) {
        let journal = self.clone();
        let blocking = tracker.clone();
        tracker.spawn(async move {
            loop {
                let stopping = tokio::select! {
                    _ = journal.dirty.notified() => false,
                    _ = stop.cancelled() => true,
                };
                let file = journal
                    .lock()
                    .file
                    .as_ref()
                    .and_then(|f| f.try_clone().ok());
                if let Some(file) = file {
                    let synced = blocking.spawn_blocking(move || file.sync_data()).await;
                    if let Ok(Err(e)) = synced {
                        tracing::warn!("cannot sync the journal of running commands: {e}");
                    }
                }
                if stopping {
                    break;
                }
            }
        });
    }

    /// Records that `nonce` is about to start on `conn`'s host; the returned entry records the
    /// process group when told, and the end when dropped.
    pub fn begin(
        &self,
        kind: Kind,
        nonce: &str,
        conn: &Connection,
        auth_sock: Option<&Path>,
    ) -> Entry {
        let running = Running {
            nonce: nonce.to_owned(),
            kind,
            connection: SavedConnection::of(conn),
            auth_sock: auth_sock.map(|p| p.display().to_string()),
            began_ms: now_ms(),
            pgid: None,
            pgid_ms: None,
        };
        self.record(Line::Begin(running));
        Entry {
            journal: self.clone(),
            nonce: nonce.to_owned(),
        }
    }

    /// Records that `nonce` has ended (or was ended).
    pub fn end(&self, nonce: &str) {
        self.record(Line::End {
            nonce: nonce.to_owned(),
        });
    }

    /// The entries running now, as the journal knows them.
    pub fn running(&self) -> Vec<Running> {
        self.lock().running.values().cloned().collect()
    }

    fn record(&self, line: Line) {
        let mut inner = self.lock();
        inner.apply(&line);
        inner.write(&line);
        drop(inner);
        self.dirty.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the map half-changed in a way that
        // matters (each change is one insert or remove), so a poisoned lock is still used.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One running remote process in the journal. Dropping it records its end.
#[derive(Debug)]
pub struct Entry {
    journal: Journal,
    nonce: String,
}

impl Entry {
    /// Records the process group the command reported.
    pub fn pgid(&self, pgid: u32) {
        self.journal.record(Line::Pid {
            nonce: self.nonce.clone(),
            pgid,
            at_ms: now_ms(),
        });
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.journal.end(&self.nonce);
    }
}

impl Inner {
    fn apply(&mut self, line: &Line) {
        match line {
            Line::Begin(r) => {
                self.running.insert(r.nonce.clone(), r.clone());
            }
            Line::Pid { nonce, pgid, at_ms } => {
                if let Some(r) = self.running.get_mut(nonce) {
                    r.pgid = Some(*pgid);
                    r.pgid_ms = Some(*at_ms);
                }
            }
            Line::End { nonce } => {
                self.running.remove(nonce);
            }
        }
    }

    fn write(&mut self, line: &Line) {
        if self.written >= COMPACT_AT || (self.file.is_none() && self.failing.is_some()) {
            self.compact();
        }
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let mut bytes = match serde_json::to_vec(line) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("cannot encode a journal line: {e}");
                return;
            }
        };
        bytes.push(b'\n');
        match file.write_all(&bytes) {
            Ok(()) => self.written += bytes.len() as u64,
            Err(e) => {
                self.failed("write", &e);
                // A partial line would spoil the next one: start over from the map.
                self.file = None;
            }
        }
    }

    /// Rewrites the file with the entries running now (temporary file, sync, rename), and keeps
    /// it open for appending.
    fn compact(&mut self) {
        if self.path.as_os_str().is_empty() {
            return;
        }
        match self.rewrite() {
            Ok(file) => {
                if self.failing.take().is_some() {
                    tracing::info!(path = %self.path.display(), "the journal of running commands is written again");
                }
                self.file = Some(file);
            }
            Err(e) => {
                self.failed("rewrite", &e);
                self.file = None;
            }
        }
    }

    fn rewrite(&mut self) -> std::io::Result<File> {
        let tmp = self
            .path
            .with_extension(format!("tmp.{}", std::process::id()));
        let mut text = Vec::new();
        for r in self.running.values() {
            serde_json::to_writer(&mut text, &Line::Begin(r.clone()))
                .map_err(std::io::Error::other)?;
            text.push(b'\n');
        }
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| {
                f.write_all(&text)?;
                f.sync_data()
            })
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        self.written = text.len() as u64;
        std::fs::OpenOptions::new().append(true).open(&self.path)
    }

    fn failed(&mut self, what: &str, e: &std::io::Error) {
        if self.failing != Some(e.kind()) {
            tracing::warn!(
                path = %self.path.display(),
                "cannot {what} the journal of running commands ({e}); commands go on, but one left \
                 running by a crash now could not be ended by the next daemon"
            );
            self.failing = Some(e.kind());
        }
    }
}

/// The entries a journal file leaves running: begun and not ended. A line that does not read
/// (the last one, cut by a crash mid-write) is skipped.
fn read_running(path: &Path) -> Vec<Running> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            tracing::warn!(path = %path.display(), "cannot read the journal of running commands: {e}");
            return Vec::new();
        }
    };
    let mut map: HashMap<String, Running> = HashMap::new();
    let mut order = Vec::new();
    for line in std::io::BufReader::new(file).split(b'\n') {
        let Ok(line) = line else { break };
        match serde_json::from_slice::<Line>(&line) {
            Ok(Line::Begin(r)) => {
                order.push(r.nonce.clone());
                map.insert(r.nonce.clone(), r);
            }
            Ok(Line::Pid { nonce, pgid, at_ms }) => {
                if let Some(r) = map.get_mut(&nonce) {
                    r.pgid = Some(pgid);
                    r.pgid_ms = Some(at_ms);
                }
            }
            Ok(Line::End { nonce }) => {
                map.remove(&nonce);
            }
            Err(_) => {}
        }
    }
    order.into_iter().filter_map(|n| map.remove(&n)).collect()
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests;
