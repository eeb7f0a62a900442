//! The ControlMaster pool: for each distinct connection (target + options, see
//! `Connection::pool_key`) one or more OpenSSH masters that the daemon starts and owns, and
//! leases on their channels.
//!
//! sshd allows 10 sessions per connection by default (MaxSessions) and starts dropping
//! unauthenticated connections beyond 10 (MaxStartups 10:30:100). So a master lends at most
//! [`LEASES_PER_MASTER`] channels (one more is kept for stopping commands), at most
//! [`MAX_OPENING_PER_HOST`] masters of one connection and [`gate::OPENING_PER_SERVER`] of one
//! server (whatever name reaches it, `gate.rs`) authenticate at once, and a caller that finds
//! every master full either starts another one or waits for a lease to come back: a call never
//! fails because a master is full.
//!
//! Sessions and forwards hold their channel for their whole life. Left alone they could take
//! every channel of every master, and short calls (exec, files, search, transfers) would then wait
//! for ever; so a connection lends at most `Config::max_long_lived` channels to them
//! ([`MasterPool::acquire_long_lived`] refuses one more at once, naming the limit and what to
//! stop), and the rest of its [`MAX_MASTERS_PER_HOST`] x [`LEASES_PER_MASTER`] channels stays for
//! short calls.
//!
//! Each master is owned by one task on the `connections` tracker (`run.rs`); leases and the
//! places of long-lived holders are in `lease.rs`. The pool's
//! bookkeeping sits behind a std mutex that is never held across an await; waiters sleep on a
//! `Notify` that every change wakes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ssh_mcp_core::ssh::argv::SshSettings;
use ssh_mcp_core::ssh::binaries::Binaries;
use ssh_mcp_core::ssh::options::connection::Connection;
use tokio::sync::Notify;

use super::control_paths;
use super::killer::GroupKiller;
use crate::config::Config;
use crate::error::DaemonError;
use crate::shutdown::Shutdown;

mod gate;
mod lease;
mod run;

use lease::LongLivedSlot;
pub use lease::{Lease, LongLived};

/// Channels a master lends to commands; sshd's default MaxSessions is 10 and one is kept free so
/// that a command can always be stopped over its own master.
pub const LEASES_PER_MASTER: usize = 9;
/// Masters per connection: 16 x 9 channels, enough for 100 sessions and forwards (each holds a
/// channel for its life) beside commands.
pub const MAX_MASTERS_PER_HOST: usize = 16;
/// Sessions and forwards one connection may hold at once, unless the operator says otherwise.
pub const DEFAULT_MAX_LONG_LIVED: usize = 100;
/// The most an operator may allow: one master's channels always stay for short calls.
pub const MAX_LONG_LIVED_LIMIT: usize = (MAX_MASTERS_PER_HOST - 1) * LEASES_PER_MASTER;
const MAX_OPENING_PER_HOST: usize = 2;
/// How long a master may take to authenticate beyond ssh's own ConnectTimeout.
const READY_MARGIN: Duration = Duration::from_secs(20);
const STDERR_KEEP: usize = 4096;
/// The pause before another extra master after one failed, doubling up to the maximum.
const EXTRA_BACKOFF_MIN: Duration = Duration::from_millis(250);
const EXTRA_BACKOFF_MAX: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct MasterPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    hosts: Mutex<HashMap<String, Arc<Host>>>,
    next_id: AtomicU64,
    config: Config,
    shutdown: Shutdown,
    settings: Mutex<Option<SshSettings>>,
    gate: gate::OpenGate,
}

struct Host {
    key: String,
    conn: Connection,
    state: Mutex<HostState>,
    changed: Notify,
}

#[derive(Default)]
struct HostState {
    masters: Vec<Master>,
    opening: usize,
    waiting: usize,
    /// Bumped by every failed open; a waiter that saw a lower number looks at `last_failure`.
    failures: u64,
    last_failure: Option<OpenFailure>,
    /// While a live master serves this key, no extra one is started before this instant (set
    /// when an extra master fails, so a full server is not asked again at every wake-up).
    extra_not_before: Option<Instant>,
    /// The pause after the next failed extra master.
    extra_backoff: Duration,
    /// Channels held for life, by sessions and by forwards (see [`LongLivedSlot`]).
    sessions: usize,
    forwards: usize,
    /// The servers its masters authenticate against, and when ssh said so (`gate.rs`).
    servers: Option<(Instant, Vec<String>)>,
}

/// Why the last master of a key could not be opened, and with which agent it tried.
#[derive(Clone)]
struct OpenFailure {
    detail: String,
    hint: &'static str,
    auth_sock: Option<PathBuf>,
}

struct Master {
    id: u64,
    path: PathBuf,
    /// The ssh process, which reads the terminal of every tty session on it (see `Lease`).
    pid: Option<u32>,
    killer: GroupKiller,
    in_use: usize,
    capacity: usize,
    refusals: u32,
    ready_at: Instant,
    last_used: Instant,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain counters behind; they are still usable.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Counts for the Status call.
#[derive(Debug, Default, Clone, Copy)]
pub struct PoolStats {
    pub masters: u32,
    pub busy: u32,
    pub waiting: u32,
    pub opening: u32,
}

/// What the pool holds for one target (any options): for `ssh_hosts`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TargetState {
    pub masters: u32,
    /// Channels in use on them.
    pub channels_in_use: u32,
    /// How long ago a channel was last taken, when a master is open.
    pub idle_for: Option<Duration>,
}

impl MasterPool {
    /// The masters open to `target` as written (whatever the other options) and their use.
    pub fn target_state(&self, target: &str) -> TargetState {
        let hosts: Vec<Arc<Host>> = lock(&self.inner.hosts).values().cloned().collect();
        let mut state = TargetState::default();
        for host in hosts.iter().filter(|h| h.conn.target.as_str() == target) {
            let st = lock(&host.state);
            for m in &st.masters {
                state.masters += 1;
                state.channels_in_use += m.in_use as u32;
                let idle = m.last_used.elapsed();
                state.idle_for = Some(state.idle_for.map_or(idle, |d| d.min(idle)));
            }
        }
        state
    }

    pub fn new(config: &Config, shutdown: Shutdown) -> Self {
        Self {
            inner: Arc::new(PoolInner {
                hosts: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                config: config.clone(),
                shutdown,
                settings: Mutex::new(None),
                gate: gate::OpenGate::default(),
            }),
        }
    }

    pub fn stats(&self) -> PoolStats {
        let hosts: Vec<Arc<Host>> = lock(&self.inner.hosts).values().cloned().collect();
        let mut stats = PoolStats::default();
        for host in hosts {
            let st = lock(&host.state);
            stats.masters += st.masters.len() as u32;
            stats.busy += st.masters.iter().map(|m| m.in_use as u32).sum::<u32>();
            stats.waiting += st.waiting as u32;
            stats.opening += st.opening as u32;
        }
        stats
    }

    /// The operator's ssh settings. The ssh binary is looked up once and again only while the
    /// lookup fails (so installing OpenSSH later needs no restart).
    pub fn settings(&self) -> Result<SshSettings, DaemonError> {
        let mut cached = lock(&self.inner.settings);
        if let Some(s) = cached.as_ref() {
            return Ok(s.clone());
        }
        let c = &self.inner.config;
        let settings = SshSettings {
            ssh: Binaries::from_env()?.ssh,
            config_file: c.ssh_config.clone(),
            connect_timeout_secs: c.connect_timeout_secs,
            keepalive_interval_secs: c.keepalive_interval_secs,
        };
        *cached = Some(settings.clone());
        Ok(settings)
    }

    fn host(&self, conn: &Connection) -> Arc<Host> {
        let key = conn.pool_key();
        let mut hosts = lock(&self.inner.hosts);
        hosts
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Host {
                    key,
                    conn: conn.clone(),
                    state: Mutex::new(HostState::default()),
                    changed: Notify::new(),
                })
            })
            .clone()
    }

    /// Borrows a channel for `conn`, starting a master when every one is full (or none exists).
    /// Waits, without failing, while sshd's limits say to wait. Cancel-safe.
    pub async fn acquire(
        &self,
        conn: &Connection,
        auth_sock: Option<&Path>,
    ) -> Result<Lease, DaemonError> {
        let host = self.host(conn);
        let asked_at = Instant::now();
        let mut failures_seen = lock(&host.state).failures;
        loop {
            let notified = host.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let mut wake_at = None;
            {
                let mut st = lock(&host.state);
                if let Some(m) = st
                    .masters
                    .iter_mut()
                    .filter(|m| m.in_use < m.capacity)
                    .max_by_key(|m| m.in_use)
                {
                    m.in_use += 1;
                    return Ok(Lease {
                        host: host.clone(),
                        master_id: m.id,
                        control_path: m.path.clone(),
                        killer: m.killer.clone(),
                        reused: m.ready_at < asked_at,
                        master_pid: m.pid,
                        long_lived: None,
                    });
                }
                if st.failures > failures_seen {
                    failures_seen = st.failures;
                    // A failure is this caller's only when nothing of the key is alive or coming
                    // and the open used this caller's agent: queued callers keep waiting for a
                    // live master's channels, and a caller with another agent tries its own.
                    if let Some(f) = st.last_failure.clone()
                        && st.masters.is_empty()
                        && st.opening == 0
                        && f.auth_sock.as_deref() == auth_sock
                    {
                        return Err(DaemonError::Connect {
                            target: conn.target.to_string(),
                            detail: f.detail,
                            hint: f.hint,
                        });
                    }
                }
                if self.inner.shutdown.is_requested() {
                    return Err(DaemonError::ShuttingDown);
                }
                let backing_off = match st.extra_not_before {
                    Some(t) if !st.masters.is_empty() && Instant::now() < t => {
                        wake_at = Some(t);
                        true
                    }
                    _ => false,
                };
                let coming = st.opening * LEASES_PER_MASTER;
                if !backing_off
                    && st.opening < MAX_OPENING_PER_HOST
                    && st.masters.len() + st.opening < MAX_MASTERS_PER_HOST
                    && coming <= st.waiting
                {
                    st.opening += 1;
                    let settings = self.settings();
                    let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
                    let path =
                        control_paths::control_path(&self.inner.config.control_dir, &host.key, id);
                    let pool = self.clone();
                    let host2 = host.clone();
                    let auth = auth_sock.map(Path::to_path_buf);
                    self.inner.shutdown.connections.spawn(async move {
                        pool.run_master(host2, id, path, settings, auth).await;
                    });
                }
                st.waiting += 1;
            }
            // The guard gives the waiting count back even when the caller is cancelled here.
            let _waiting = WaitingGuard(&host);
            match wake_at {
                Some(t) => {
                    let _ = tokio::time::timeout_at(t.into(), notified).await;
                }
                None => notified.await,
            }
        }
    }

    /// Borrows a channel for a session or a forward, which holds it for its life. Refused at
    /// once when the connection already lends `Config::max_long_lived` channels to them.
    pub async fn acquire_long_lived(
        &self,
        conn: &Connection,
        auth_sock: Option<&Path>,
        holder: LongLived,
    ) -> Result<Lease, DaemonError> {
        let slot = self.take_long_lived_slot(conn, holder)?;
        let mut lease = self.acquire(conn, auth_sock).await?;
        lease.long_lived = Some(slot);
        Ok(lease)
    }

    fn take_long_lived_slot(
        &self,
        conn: &Connection,
        holder: LongLived,
    ) -> Result<LongLivedSlot, DaemonError> {
        let host = self.host(conn);
        let limit = self.inner.config.max_long_lived;
        {
            let mut st = lock(&host.state);
            if st.sessions + st.forwards >= limit {
                return Err(DaemonError::LimitReached(format!(
                    "'{}' already has {} sessions and {} forwards open, the most one connection \
                     may hold ({limit}; ssh-mcpd --max-long-lived or SSH_MCP_MAX_LONG_LIVED): stop \
                     one you no longer need (ssh_stop_session, ssh_stop_forward), then try again. \
                     The connection's other channels stay free for ssh_exec, the file tools, \
                     search and transfers",
                    conn.target, st.sessions, st.forwards
                )));
            }
            match holder {
                LongLived::Session => st.sessions += 1,
                LongLived::Forward => st.forwards += 1,
            }
        }
        Ok(LongLivedSlot { host, holder })
    }

    /// A control path for a master that a session starts itself (`sessions::session`: an ssh
    /// that authenticates on the session's terminal).
    pub fn new_control_path(&self, conn: &Connection) -> (u64, PathBuf) {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let path =
            control_paths::control_path(&self.inner.config.control_dir, &conn.pool_key(), id);
        (id, path)
    }

    /// Lends the channels of a master that a session started, once it is in: calls for `conn`
    /// use it as any other. One of its sessions is the session itself. The session keeps the
    /// process, and calls [`MasterPool::withdraw`] when it ends. Returns its killer.
    pub fn adopt(
        &self,
        conn: &Connection,
        id: u64,
        path: PathBuf,
        pid: Option<u32>,
    ) -> GroupKiller {
        let host = self.host(conn);
        let killer = GroupKiller::spawn(
            path.clone(),
            self.inner.config.kill_grace,
            &self.inner.shutdown.connections,
        );
        let now = Instant::now();
        lock(&host.state).masters.push(Master {
            id,
            path,
            pid,
            killer: killer.clone(),
            in_use: 0,
            capacity: LEASES_PER_MASTER - 1,
            refusals: 0,
            ready_at: now,
            last_used: now,
        });
        host.changed.notify_waiters();
        tracing::info!(master = id, target = %conn.target, "a session's own connection is lent to other calls");
        killer
    }

    /// Takes back a master lent by [`MasterPool::adopt`] (its process has ended).
    pub fn withdraw(&self, conn: &Connection, id: u64) {
        let host = self.host(conn);
        lock(&host.state).masters.retain(|m| m.id != id);
        host.changed.notify_waiters();
    }
}

struct WaitingGuard<'a>(&'a Host);

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        let mut st = lock(&self.0.state);
        st.waiting = st.waiting.saturating_sub(1);
    }
}
