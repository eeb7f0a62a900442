//! Background jobs (`ssh_exec` with `background: true`): a command started detached on its host
//! (`ssh_mcp_core::ssh::remote::jobs`: its own session and process group, output and status in
//! files under the account's cache directory), so it outlives the client, the daemon and the
//! connection. The daemon keeps one record per job ([`JobRegistry`], in `<state>/jobs.json`, so a
//! restarted daemon finds its jobs again) and reaches the host for everything else: `run.rs`
//! starts a job, reads a page of its output (waiting for more when asked), stops it and removes
//! its files once it has ended and its output was read to the end.

pub mod run;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use ssh_mcp_core::ssh::remote::jobs::JobId;

use crate::outputs::Stream;
/// The connection a job was started over, in the form the journal keeps it (validated again by
/// the door on every use).
pub use crate::recovery::journal::SavedConnection;

/// Days an ended job's files stay on its host when nobody reads them to the end (the next job
/// started on that account removes older ones), and its record in the daemon.
pub const KEEP_DAYS: u32 = 7;
const JOBS_FILE: &str = "jobs.json";

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ended {
    Exited(i32),
    /// ssh_stop_job ended it with this signal.
    Stopped(i32),
    /// Its processes are gone and it left no status (the host rebooted, or its monitor was
    /// killed).
    Lost,
}

/// What the daemon knows of one job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: String,
    pub connection: SavedConnection,
    pub command: String,
    /// The job's directory on the host (absolute).
    pub dir: String,
    pub pgid: u32,
    /// When it started (RFC 3339) and the client that started it.
    pub started_at: String,
    pub started_unix: u64,
    pub client: String,
    pub ended: Option<Ended>,
    /// Sizes of stdout and stderr as last seen on the host.
    pub sizes: [u64; 2],
    /// Each reader's place in stdout and stderr.
    pub cursors: BTreeMap<String, [u64; 2]>,
    /// The furthest any reader has read of each stream.
    pub read_to: [u64; 2],
    /// The job's files on the host are gone.
    pub removed: bool,
}

impl JobRecord {
    pub fn job_id(&self) -> Option<JobId> {
        JobId::parse(&self.id)
    }

    /// Ended, and each stream read to its end: its files on the host can go.
    pub fn done_with(&self) -> bool {
        self.ended.is_some() && self.read_to[0] >= self.sizes[0] && self.read_to[1] >= self.sizes[1]
    }

    pub fn cursor(&self, reader: &str, stream: Stream) -> Option<u64> {
        self.cursors.get(reader).map(|c| c[index(stream)])
    }
}

pub fn index(stream: Stream) -> usize {
    match stream {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

/// Every job the daemon knows, saved to `<state>/jobs.json` on each change.
#[derive(Debug)]
pub struct JobRegistry {
    path: PathBuf,
    jobs: Mutex<BTreeMap<String, JobRecord>>,
}

impl JobRegistry {
    /// The registry saved in `state_dir`, without records past [`KEEP_DAYS`] after their end.
    pub fn open(state_dir: &std::path::Path) -> Self {
        let path = state_dir.join(JOBS_FILE);
        let mut jobs: BTreeMap<String, JobRecord> = fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let now = unix_now();
        jobs.retain(|_, j| {
            j.ended.is_none() || now.saturating_sub(j.started_unix) < u64::from(KEEP_DAYS) * 86_400
        });
        Self {
            path,
            jobs: Mutex::new(jobs),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, JobRecord>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, id: &str) -> Option<JobRecord> {
        self.lock().get(id).cloned()
    }

    pub fn list(&self) -> Vec<JobRecord> {
        self.lock().values().cloned().collect()
    }

    /// Adds or replaces a record, then saves (synced to disk: a new job must survive a crash).
    pub fn put(&self, job: JobRecord, sync: bool) {
        let snapshot = {
            let mut jobs = self.lock();
            jobs.insert(job.id.clone(), job);
            serde_json::to_vec(&*jobs)
        };
        match snapshot {
            Ok(bytes) => {
                if let Err(e) = write_atomically(&self.path, &bytes, sync) {
                    tracing::warn!(path = %self.path.display(), "saving the jobs: {e}");
                }
            }
            Err(e) => tracing::warn!("encoding the jobs: {e}"),
        }
    }

    /// Changes a record with `f` and saves; the record after the change.
    pub fn update(&self, id: &str, f: impl FnOnce(&mut JobRecord)) -> Option<JobRecord> {
        let mut job = self.get(id)?;
        f(&mut job);
        self.put(job.clone(), false);
        Some(job)
    }
}

fn write_atomically(path: &std::path::Path, bytes: &[u8], sync: bool) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?;
    f.write_all(bytes)?;
    if sync {
        f.sync_data()?;
    }
    fs::rename(&tmp, path)
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> JobRecord {
        JobRecord {
            id: id.into(),
            connection: SavedConnection {
                target: "h".into(),
                port: None,
                identity_file: None,
                known_hosts_file: None,
                strict_host_key_checking: None,
                extra_ssh_args: Vec::new(),
            },
            command: "sleep 1".into(),
            dir: "/home/u/.cache/ssh-mcp/jobs/x".into(),
            pgid: 42,
            started_at: "2026-12-07T00:00:00Z".into(),
            started_unix: unix_now(),
            client: "c".into(),
            ended: None,
            sizes: [0, 0],
            cursors: BTreeMap::new(),
            read_to: [0, 0],
            removed: false,
        }
    }

    #[test]
    fn records_survive_a_restart_and_old_ended_ones_go() {
        let dir = tempfile::tempdir().unwrap();
        let jobs = JobRegistry::open(dir.path());
        jobs.put(record("job-0000000000000001"), true);
        let mut old = record("job-0000000000000002");
        old.started_unix = 0;
        old.ended = Some(Ended::Exited(0));
        jobs.put(old, false);
        let mut old_running = record("job-0000000000000003");
        old_running.started_unix = 0;
        jobs.put(old_running, false);
        jobs.update("job-0000000000000001", |j| j.sizes = [5, 0]);
        let again = JobRegistry::open(dir.path());
        let ids: Vec<String> = again.list().into_iter().map(|j| j.id).collect();
        assert_eq!(ids, ["job-0000000000000001", "job-0000000000000003"]);
        assert_eq!(again.get("job-0000000000000001").unwrap().sizes, [5, 0]);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join(JOBS_FILE))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_job_is_done_with_once_ended_and_read_to_the_end() {
        let mut j = record("job-0000000000000001");
        j.sizes = [10, 0];
        j.read_to = [10, 0];
        assert!(!j.done_with(), "still running");
        j.ended = Some(Ended::Exited(0));
        assert!(j.done_with());
        j.sizes = [10, 3];
        assert!(!j.done_with(), "stderr unread");
    }
}
