//! [`SessionRegistry`]: every session of the daemon, by id, and the rules that find one by name
//! and target (`ssh_start_session` refuses a running duplicate; `ssh_ensure_session` reuses the
//! one match). Exited sessions stay listed for a while, then are pruned with their transcripts
//! (`retention.rs`: an hour; five minutes with `auto_close`).
//!
//! The registry is kept on disk (`record.rs`). Saves are ordered: each takes its snapshot and
//! writes it under one lock, so the save that comes last writes the newest state, whatever order
//! parallel starts and stops call them in.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::record::{self, SessionRecord};
use super::retention;
use super::session::Session;
use super::spec::OpenSpec;
use crate::error::DaemonError;
use crate::state::Daemon;

/// How an open was answered.
pub struct Opened {
    pub session: Arc<Session>,
    pub created: bool,
    /// `session_name` or `target` when an ensure reused a session.
    pub matched_by: Option<&'static str>,
}

pub struct SessionRegistry {
    /// Where `sessions.json` and the transcript folders live.
    state_dir: PathBuf,
    sessions: Mutex<Vec<Arc<Session>>>,
    /// Held while a named or ensured session opens, so that two ensures of one name cannot
    /// both start one.
    opening: tokio::sync::Mutex<()>,
    /// Held by a save from its snapshot to its rename: saves never interleave, and the last one
    /// to take it holds the newest state.
    saving: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SessionRegistry {
    pub fn new(state_dir: PathBuf) -> Self {
        Self {
            state_dir,
            sessions: Mutex::default(),
            opening: tokio::sync::Mutex::default(),
            saving: Mutex::default(),
        }
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Lists the sessions a previous daemon left in the state directory, as ended; those that
    /// ended longer ago than they are kept go with their transcripts, and so do transcript
    /// folders no registry lists any more.
    pub fn restore(&self) {
        let now = record::now_ms();
        let (kept, expired): (Vec<SessionRecord>, Vec<SessionRecord>) =
            record::load(&self.state_dir).into_iter().partition(|r| {
                r.ended_ms.is_none_or(|end| {
                    u128::from(now.saturating_sub(end)) < retention::keep(r.auto_close).as_millis()
                })
            });
        for r in &expired {
            retention::remove_transcripts(&self.state_dir, &r.id);
        }
        let listed: Vec<String> = kept.iter().map(|r| r.id.clone()).collect();
        retention::sweep(&self.state_dir, &listed);
        if kept.is_empty() && expired.is_empty() {
            return;
        }
        tracing::info!(
            count = kept.len(),
            expired = expired.len(),
            "sessions of the previous daemon listed as ended"
        );
        lock(&self.sessions).extend(kept.iter().map(Session::restored));
        self.save();
    }

    /// Writes the registry to disk (a failure is logged: the sessions go on). Blocks on the
    /// disk: async callers use [`SessionRegistry::save_off_workers`].
    pub fn save(&self) {
        let _in_order = lock(&self.saving);
        let records: Vec<_> = lock(&self.sessions).iter().map(|s| s.record()).collect();
        if let Err(e) = record::save(&self.state_dir, &records) {
            tracing::warn!(
                "cannot write the session registry in {}: {e}",
                self.state_dir.display()
            );
        }
    }

    /// [`SessionRegistry::save`] on the blocking pool (it writes and syncs a file), awaited.
    pub async fn save_off_workers(daemon: &Daemon) {
        let d = daemon.clone();
        if let Err(e) = daemon
            .shutdown
            .commands
            .spawn_blocking(move || d.sessions.save())
            .await
        {
            tracing::warn!("saving the session registry failed: {e}");
        }
    }

    pub fn get(&self, id: &str) -> Result<Arc<Session>, DaemonError> {
        lock(&self.sessions)
            .iter()
            .find(|s| s.id == id.trim())
            .cloned()
            .ok_or_else(|| DaemonError::UnknownSession(id.to_owned()))
    }

    /// Sessions, newest last, after pruning those exited long enough ago.
    pub fn list(&self) -> Vec<Arc<Session>> {
        self.prune();
        lock(&self.sessions).clone()
    }

    pub fn running_count(&self) -> usize {
        lock(&self.sessions)
            .iter()
            .filter(|s| s.is_running())
            .count()
    }

    /// Drops the sessions that ended longer ago than they are kept, with their transcripts,
    /// and writes the registry when any went.
    fn prune(&self) {
        let mut pruned = Vec::new();
        lock(&self.sessions).retain(|s| {
            let keep = s
                .ended_for()
                .is_none_or(|ended| ended < retention::keep(s.auto_close));
            if !keep {
                pruned.push(s.id.clone());
            }
            keep
        });
        if pruned.is_empty() {
            return;
        }
        for id in &pruned {
            retention::remove_transcripts(&self.state_dir, id);
        }
        self.save();
    }

    /// Running sessions for `target` with this name; without a name, only unnamed ones (an
    /// unnamed ensure never takes over a session someone named).
    fn matches(&self, target: &str, name: Option<&str>) -> Vec<Arc<Session>> {
        lock(&self.sessions)
            .iter()
            .filter(|s| s.is_running() && s.target == target && s.name.as_deref() == name)
            .cloned()
            .collect()
    }

    /// Starts a session, or with `spec.ensure` reuses the one running session that matches.
    pub async fn open(&self, daemon: &Daemon, spec: &OpenSpec) -> Result<Opened, DaemonError> {
        self.prune();
        let _serial = if spec.ensure || spec.name.is_some() {
            Some(self.opening.lock().await)
        } else {
            None
        };
        let found = self.matches(&spec.target, spec.name.as_deref());
        if spec.ensure {
            match found.as_slice() {
                [one] => {
                    return Ok(Opened {
                        session: one.clone(),
                        created: false,
                        matched_by: Some(if spec.name.is_some() {
                            "session_name"
                        } else {
                            "target"
                        }),
                    });
                }
                [] => {}
                _ => {
                    return Err(DaemonError::SessionConflict(match &spec.name {
                        None => format!(
                            "Multiple running sessions already exist for target '{}'. Provide a \
                             stable 'session_name' or inspect them with 'ssh_list_sessions' first.",
                            spec.target
                        ),
                        Some(n) => format!(
                            "Multiple running sessions already exist for target '{}' with \
                             session_name '{n}'. Stop duplicates or use 'ssh_list_sessions' to \
                             choose a specific session_id.",
                            spec.target
                        ),
                    }));
                }
            }
        } else if let (Some(n), false) = (&spec.name, found.is_empty()) {
            return Err(DaemonError::SessionConflict(format!(
                "A running session named '{n}' already exists for target '{}'. Use \
                 'ssh_ensure_session' to reuse it or choose a different 'session_name'.",
                spec.target
            )));
        }
        let id = crate::connection::pid_report::nonce();
        let session = Session::open(daemon, spec, id).await?;
        lock(&self.sessions).push(session.clone());
        Self::save_off_workers(daemon).await;
        Ok(Opened {
            session,
            created: true,
            matched_by: None,
        })
    }
}
