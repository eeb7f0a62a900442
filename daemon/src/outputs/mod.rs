//! Kept outputs ([`OutputStore`]): the whole output of a command whose result could show only
//! part of it, kept under an `output_id` for `ssh_read_output`.
//!
//! Outputs go to files under `<state>/outputs/<id>/` (the directories 0700, the files 0600) as
//! they arrive ([`spill::Spill`]), never to memory, so the daemon can keep gigabytes for a few
//! hundred bytes each. Two bounds hold the disk: a total quota (when a new byte would pass it,
//! the outputs read longest ago go first) and an expiry after the last read. An output whose
//! command has ended has a `meta.json`, so a restarted daemon finds it again; a directory without
//! one (its daemon died while writing it) is removed at start-up. Each reader (one per MCP
//! client) keeps its own place in each stream ([`page`]).

pub mod page;
pub mod spill;

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::connection::pid_report::nonce;
use crate::error::DaemonError;
use page::{Page, PageRequest};

/// Disk all kept outputs may take together when the configuration does not say otherwise.
pub const DEFAULT_QUOTA_BYTES: u64 = 2 << 30;
/// How long an output is kept after it was last read (or written).
pub const DEFAULT_KEEP: Duration = Duration::from_secs(24 * 3600);
/// How often expired outputs are looked for (on the next call that writes or reads one).
const SWEEP_EVERY: Duration = Duration::from_secs(60);
const META_FILE: &str = "meta.json";
const ID_PREFIX: &str = "out-";

/// One of the two streams of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }

    /// `stdout` (or nothing) or `stderr`, as ssh_read_output takes it.
    pub fn parse(s: &str) -> Result<Self, DaemonError> {
        match s.trim() {
            "" | "stdout" => Ok(Self::Stdout),
            "stderr" => Ok(Self::Stderr),
            other => Err(DaemonError::Invalid(ssh_mcp_core::ssh::InvalidInput(
                format!("'stream' must be \"stdout\" or \"stderr\" (got {other:?})"),
            ))),
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Stdout => 0,
            Self::Stderr => 1,
        }
    }
}

/// What was kept of one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamKept {
    /// Bytes in its file.
    pub kept: u64,
    /// Bytes the command wrote to it, kept or not.
    pub written: u64,
    /// Why `kept` stops short of `written`, when it does.
    pub note: Option<String>,
}

/// What `meta.json` holds: enough to serve an output again after a restart.
#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    streams: [StreamKept; 2],
    /// Seconds since the epoch.
    created: u64,
}

/// One kept output.
#[derive(Debug)]
struct Kept {
    streams: [StreamKept; 2],
    /// The command has ended: nothing more will be written.
    finished: bool,
    created: SystemTime,
    touched: SystemTime,
    /// Each reader's place in each stream.
    cursors: HashMap<(String, Stream), u64>,
}

impl Kept {
    fn new(now: SystemTime) -> Self {
        Self {
            streams: Default::default(),
            finished: false,
            created: now,
            touched: now,
            cursors: HashMap::new(),
        }
    }

    fn disk_bytes(&self) -> u64 {
        self.streams.iter().map(|s| s.kept).sum()
    }
}

#[derive(Debug)]
struct Index {
    outputs: HashMap<String, Kept>,
    last_sweep: SystemTime,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    quota: u64,
    keep: Duration,
    /// Bytes in every kept output's files (reserved before they are written).
    used: AtomicU64,
    index: Mutex<Index>,
}

/// The daemon's kept outputs; a cheap clone.
#[derive(Debug, Clone)]
pub struct OutputStore(Arc<Inner>);

/// Whether `id` is spelled as this store names outputs (so it can never name another path).
pub fn valid_id(id: &str) -> bool {
    id.strip_prefix(ID_PREFIX)
        .is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl OutputStore {
    /// The store in `dir` (created 0700 if missing), with what an earlier daemon kept there.
    pub fn open(dir: PathBuf, quota: u64, keep: Duration) -> Self {
        let store = Self(Arc::new(Inner {
            dir,
            quota,
            keep,
            used: AtomicU64::new(0),
            index: Mutex::new(Index {
                outputs: HashMap::new(),
                last_sweep: SystemTime::now(),
            }),
        }));
        if let Err(e) = ssh_mcp_core::paths::ensure_private_dir(&store.0.dir) {
            tracing::warn!(dir = %store.0.dir.display(), "kept outputs: {e}");
            return store;
        }
        store.load();
        store
    }

    /// A new, unused output id.
    pub fn new_id() -> String {
        format!("{ID_PREFIX}{}", nonce())
    }

    fn lock(&self) -> MutexGuard<'_, Index> {
        self.0.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn path(&self, id: &str) -> PathBuf {
        self.0.dir.join(id)
    }

    fn stream_path(&self, id: &str, stream: Stream) -> PathBuf {
        self.path(id).join(stream.name())
    }

    /// Reads what an earlier daemon left: outputs with a `meta.json` come back, the rest go.
    fn load(&self) {
        let Ok(entries) = fs::read_dir(&self.0.dir) else {
            return;
        };
        let now = SystemTime::now();
        let mut index = self.lock();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let meta = fs::read(path.join(META_FILE))
                .ok()
                .and_then(|b| serde_json::from_slice::<Meta>(&b).ok());
            let touched = entry.metadata().and_then(|m| m.modified()).unwrap_or(now);
            let fresh = now.duration_since(touched).unwrap_or_default() < self.0.keep;
            match meta {
                Some(meta) if valid_id(&name) && fresh => {
                    let mut kept = Kept::new(touched);
                    kept.created = UNIX_EPOCH + Duration::from_secs(meta.created);
                    kept.streams = meta.streams;
                    kept.finished = true;
                    self.0.used.fetch_add(kept.disk_bytes(), Ordering::Relaxed);
                    index.outputs.insert(name, kept);
                }
                _ => remove_dir(&path),
            }
        }
    }

    /// Makes room for an output that is starting to be written.
    pub(crate) fn begin(&self, id: &str) -> io::Result<()> {
        self.sweep_if_due();
        let path = self.path(id);
        match fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        self.lock()
            .outputs
            .entry(id.to_owned())
            .or_insert_with(|| Kept::new(SystemTime::now()));
        Ok(())
    }

    /// Creates the file of one stream (0600, never following a link).
    pub(crate) fn create_stream(&self, id: &str, stream: Stream) -> io::Result<fs::File> {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(self.stream_path(id, stream))
    }

    /// Takes `n` bytes of the quota for output `id`, letting go of the outputs read longest ago
    /// when needed. False when even that leaves no room.
    pub(crate) fn reserve(&self, id: &str, n: u64) -> bool {
        let used = self.0.used.fetch_add(n, Ordering::Relaxed) + n;
        if used <= self.0.quota {
            return true;
        }
        let mut index = self.lock();
        while self.0.used.load(Ordering::Relaxed) > self.0.quota {
            let oldest = index
                .outputs
                .iter()
                .filter(|(k, v)| v.finished && k.as_str() != id)
                .min_by_key(|(_, v)| v.touched)
                .map(|(k, _)| k.clone());
            let Some(oldest) = oldest else {
                self.0.used.fetch_sub(n, Ordering::Relaxed);
                return false;
            };
            self.forget(&mut index, &oldest, "quota");
        }
        true
    }

    /// Gives back bytes reserved but not written.
    pub(crate) fn unreserve(&self, n: u64) {
        self.0.used.fetch_sub(n, Ordering::Relaxed);
    }

    fn forget(&self, index: &mut Index, id: &str, why: &str) {
        if let Some(kept) = index.outputs.remove(id) {
            self.0.used.fetch_sub(kept.disk_bytes(), Ordering::Relaxed);
            tracing::info!(
                output = id,
                bytes = kept.disk_bytes(),
                "kept output removed ({why})"
            );
        }
        remove_dir(&self.path(id));
    }

    /// The command has ended: what was kept of each stream, on disk for a later daemon too.
    pub(crate) fn finish(&self, id: &str, streams: [StreamKept; 2]) {
        let created = {
            let mut index = self.lock();
            let Some(kept) = index.outputs.get_mut(id) else {
                return;
            };
            kept.streams = streams.clone();
            kept.finished = true;
            kept.touched = SystemTime::now();
            kept.created
        };
        let meta = Meta {
            streams,
            created: created
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs(),
        };
        let written = serde_json::to_vec(&meta)
            .map_err(io::Error::other)
            .and_then(|bytes| write_private(&self.path(id).join(META_FILE), &bytes));
        if let Err(e) = written {
            tracing::warn!(output = id, "kept output's meta.json: {e}");
        }
    }

    /// Removes outputs not read for longer than the expiry, at most once a minute.
    fn sweep_if_due(&self) {
        let now = SystemTime::now();
        let mut index = self.lock();
        if now.duration_since(index.last_sweep).unwrap_or_default() < SWEEP_EVERY {
            return;
        }
        index.last_sweep = now;
        let expired: Vec<String> = index
            .outputs
            .iter()
            .filter(|(_, v)| {
                v.finished && now.duration_since(v.touched).unwrap_or_default() >= self.0.keep
            })
            .map(|(k, _)| k.clone())
            .collect();
        for id in expired {
            self.forget(&mut index, &id, "expired");
        }
    }

    /// One page of output `id` (see [`page`]); the reader's place moves past it. The file is
    /// read on a blocking thread of `blocking` (the daemon's `commands` tracker).
    pub async fn read(
        &self,
        req: PageRequest,
        blocking: &tokio_util::task::TaskTracker,
    ) -> Result<Page, DaemonError> {
        self.sweep_if_due();
        let (offset, stream_kept, finished) = {
            let mut index = self.lock();
            let Some(kept) = index.outputs.get_mut(&req.output_id) else {
                return Err(self.unknown(&req.output_id));
            };
            kept.touched = SystemTime::now();
            let cursor = kept.cursors.get(&(req.reader.clone(), req.stream)).copied();
            let offset = req.offset.or(cursor).unwrap_or(0);
            (
                offset,
                kept.streams[req.stream.index()].clone(),
                kept.finished,
            )
        };
        if offset > stream_kept.kept {
            return Err(DaemonError::Invalid(ssh_mcp_core::ssh::InvalidInput(
                format!(
                    "'offset' {offset} is past the end of {}'s {} ({} bytes kept)",
                    req.output_id,
                    req.stream.name(),
                    stream_kept.kept
                ),
            )));
        }
        let want = req.max_bytes.min(stream_kept.kept - offset);
        let path = self.stream_path(&req.output_id, req.stream);
        let bytes = blocking
            .spawn_blocking(move || read_at(&path, offset, want))
            .await
            .map_err(|e| DaemonError::Internal(format!("reading a kept output: {e}")))?
            .map_err(|e| {
                DaemonError::Internal(format!("reading kept output {}: {e}", req.output_id))
            })?;
        let at_end = finished && offset + bytes.len() as u64 == stream_kept.kept;
        let (len, encoding) = page::fit(&bytes, at_end, req.max_chars);
        let mut data = bytes;
        data.truncate(len);
        let next_offset = offset + len as u64;
        if let Some(kept) = self.lock().outputs.get_mut(&req.output_id) {
            kept.cursors
                .insert((req.reader.clone(), req.stream), next_offset);
        }
        Ok(Page {
            data,
            encoding,
            offset,
            next_offset,
            eof: finished && next_offset == stream_kept.kept,
            stream: stream_kept,
        })
    }

    fn unknown(&self, id: &str) -> DaemonError {
        let keep_h = self.0.keep.as_secs() / 3600;
        let quota_gib = self.0.quota as f64 / f64::from(1u32 << 30);
        DaemonError::UnknownOutput(format!(
            "no kept output '{id}': outputs are kept {keep_h} h after their last read and within \
             {quota_gib:.1} GiB in all, so this one has expired, was pushed out by newer ones, or \
             never existed; run the command again"
        ))
    }

    /// Bytes the kept outputs take on disk.
    pub fn used_bytes(&self) -> u64 {
        self.0.used.load(Ordering::Relaxed)
    }

    /// How many outputs are kept.
    pub fn count(&self) -> usize {
        self.lock().outputs.len()
    }

    pub fn dir(&self) -> &Path {
        &self.0.dir
    }
}

fn remove_dir(path: &Path) {
    if let Err(e) = fs::remove_dir_all(path)
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), "removing a kept output: {e}");
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    f.write_all(bytes)
}

fn read_at(path: &Path, offset: u64, want: u64) -> io::Result<Vec<u8>> {
    if want == 0 {
        return Ok(Vec::new());
    }
    let f = fs::File::open(path)?;
    let mut buf = vec![0u8; want as usize];
    let mut filled = 0;
    while filled < buf.len() {
        match f.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

#[cfg(test)]
mod tests;
