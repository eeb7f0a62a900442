//! [`SessionRegistry`]: every session of the daemon, by id, and the rules that find one by name
//! and target (`ssh_start_session` refuses a running duplicate; `ssh_ensure_session` reuses the
//! one match). Exited sessions stay listed for a while, then are pruned (an hour; five minutes
//! with `auto_close`).

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::record;
use super::session::Session;
use super::spec::OpenSpec;
use crate::error::DaemonError;
use crate::state::Daemon;

const KEEP_EXITED: Duration = Duration::from_secs(3600);
const KEEP_EXITED_AUTO_CLOSE: Duration = Duration::from_secs(300);

/// How an open was answered.
pub struct Opened {
    pub session: Arc<Session>,
    pub created: bool,
    /// `session_name` or `target` when an ensure reused a session.
    pub matched_by: Option<&'static str>,
}

#[derive(Default)]
pub struct SessionRegistry {
    sessions: Mutex<Vec<Arc<Session>>>,
    /// Held while a named or ensured session opens, so that two ensures of one name cannot
    /// both start one.
    opening: tokio::sync::Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SessionRegistry {
    /// Lists the sessions a previous daemon left in `state_dir`, as ended.
    pub fn restore(&self, state_dir: &Path) {
        let records = record::load(state_dir);
        if records.is_empty() {
            return;
        }
        tracing::info!(
            count = records.len(),
            "sessions of the previous daemon listed as ended"
        );
        lock(&self.sessions).extend(records.iter().map(Session::restored));
        self.prune();
        self.save(state_dir);
    }

    /// Writes the registry to disk (a failure is logged: the sessions go on).
    pub fn save(&self, state_dir: &Path) {
        let records: Vec<_> = lock(&self.sessions).iter().map(|s| s.record()).collect();
        if let Err(e) = record::save(state_dir, &records) {
            tracing::warn!(
                "cannot write the session registry in {}: {e}",
                state_dir.display()
            );
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

    fn prune(&self) {
        lock(&self.sessions).retain(|s| match s.ended_for() {
            None => true,
            Some(ended) => {
                let keep = if s.auto_close {
                    KEEP_EXITED_AUTO_CLOSE
                } else {
                    KEEP_EXITED
                };
                ended < keep
            }
        });
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
        let id = crate::exec::nonce();
        let session = Session::open(daemon, spec, id).await?;
        lock(&self.sessions).push(session.clone());
        self.save(&daemon.config.state_dir);
        Ok(Opened {
            session,
            created: true,
            matched_by: None,
        })
    }
}
