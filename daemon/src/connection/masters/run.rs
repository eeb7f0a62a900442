//! The task that owns one master for its whole life ([`MasterPool::run_master`]): start it, wait
//! until its socket is up, lend it, and end it when it dies, idles past the persist time, or the
//! daemon shuts down; and what a failed open tells the callers waiting for it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ssh_mcp_core::ssh::argv::{self, SshSettings};
use tokio::io::AsyncReadExt;

use super::{
    EXTRA_BACKOFF_MAX, EXTRA_BACKOFF_MIN, Host, LEASES_PER_MASTER, Master, MasterPool, OpenFailure,
    READY_MARGIN, STDERR_KEEP, gate, lock,
};
use crate::connection::killer::GroupKiller;
use crate::connection::spawn;
use crate::error::{DaemonError, connect_hint};

impl MasterPool {
    /// Owns one master for its whole life: start, wait until its socket is up, lend it, and end
    /// it when it dies, idles past the persist time, or the daemon shuts down.
    pub(super) async fn run_master(
        &self,
        host: Arc<Host>,
        id: u64,
        path: PathBuf,
        settings: Result<SshSettings, DaemonError>,
        auth_sock: Option<PathBuf>,
    ) {
        let _ = std::fs::remove_file(&path);
        let settings = match settings {
            Ok(settings) => settings,
            Err(e) => return self.open_failed(&host, auth_sock, e.to_string(), NO_SSH_HINT),
        };
        // A place at each server this master authenticates against (gate.rs), held until it is
        // up or has failed.
        let servers = servers_for(&host, &settings).await;
        let places = tokio::select! {
            places = self.inner.gate.enter(&servers) => places,
            _ = self.inner.shutdown.masters.cancelled() => {
                return self.open_failed(&host, auth_sock, "the daemon is shutting down".into(), "");
            }
        };
        let argv = argv::master::control_master(&settings, &host.conn, &path);
        tracing::debug!(master = id, argv = %argv.display(), "starting control master");
        let mut child = match spawn::master(&argv, auth_sock.as_deref()) {
            Ok(child) => child,
            Err(e) => return self.open_failed(&host, auth_sock, e.to_string(), NO_SSH_HINT),
        };
        let stderr_tail = Arc::new(Mutex::new(Vec::<u8>::new()));
        let stderr_task = child.stderr.take().map(|mut err| {
            let tail = stderr_tail.clone();
            self.inner.shutdown.connections.spawn(async move {
                let mut buf = [0u8; 2048];
                while let Ok(n) = err.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let mut t = lock(&tail);
                    t.extend_from_slice(&buf[..n]);
                    let excess = t.len().saturating_sub(STDERR_KEEP);
                    t.drain(..excess);
                }
            })
        });
        let ready_deadline = Instant::now()
            + Duration::from_secs(settings.connect_timeout_secs.into())
            + READY_MARGIN;
        let mut poll = Duration::from_millis(2);
        loop {
            tokio::select! {
                status = child.wait() => {
                    if let Some(task) = stderr_task {
                        let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
                    }
                    let text = String::from_utf8_lossy(&lock(&stderr_tail)).trim().to_owned();
                    let detail = if text.is_empty() {
                        format!("ssh exited with {}", status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()))
                    } else {
                        text
                    };
                    let hint = connect_hint(&detail);
                    return self.open_failed(&host, auth_sock.clone(), detail, hint);
                }
                _ = tokio::time::sleep(poll) => {
                    if path.exists() {
                        break;
                    }
                    if Instant::now() > ready_deadline {
                        terminate(&mut child).await;
                        return self.open_failed(&host, auth_sock.clone(), "ssh did not finish connecting in time".into(), connect_hint("timed out"));
                    }
                    poll = (poll * 2).min(Duration::from_millis(25));
                }
                _ = self.inner.shutdown.masters.cancelled() => {
                    terminate(&mut child).await;
                    return self.open_failed(&host, auth_sock.clone(), "the daemon is shutting down".into(), "");
                }
            }
        }
        drop(places);
        {
            let mut st = lock(&host.state);
            st.opening = st.opening.saturating_sub(1);
            st.extra_not_before = None;
            st.extra_backoff = Duration::ZERO;
            let now = Instant::now();
            st.masters.push(Master {
                id,
                path: path.clone(),
                pid: child.id(),
                killer: GroupKiller::spawn(
                    path.clone(),
                    self.inner.config.kill_grace,
                    &self.inner.shutdown.connections,
                ),
                in_use: 0,
                capacity: LEASES_PER_MASTER,
                refusals: 0,
                ready_at: now,
                last_used: now,
            });
        }
        host.changed.notify_waiters();
        tracing::info!(master = id, target = %host.conn.target, "control master up");

        let persist = self.inner.config.control_persist;
        let check_every = (persist / 4).clamp(Duration::from_millis(250), Duration::from_secs(30));
        loop {
            tokio::select! {
                status = child.wait() => {
                    let text = String::from_utf8_lossy(&lock(&stderr_tail)).trim().to_owned();
                    tracing::warn!(master = id, ?status, stderr = %text, "control master exited");
                    break;
                }
                _ = tokio::time::sleep(check_every) => {
                    let idle = {
                        let mut st = lock(&host.state);
                        let idle = st.masters.iter().any(|m| m.id == id && m.in_use == 0 && m.last_used.elapsed() >= persist);
                        if idle {
                            // Out of the list first, so that nobody leases it while it closes.
                            st.masters.retain(|m| m.id != id);
                        }
                        idle
                    };
                    if idle {
                        tracing::info!(master = id, "closing idle control master");
                        terminate(&mut child).await;
                        break;
                    }
                }
                _ = self.inner.shutdown.masters.cancelled() => {
                    terminate(&mut child).await;
                    break;
                }
            }
        }
        lock(&host.state).masters.retain(|m| m.id != id);
        host.changed.notify_waiters();
        let _ = std::fs::remove_file(&path);
    }

    fn open_failed(
        &self,
        host: &Host,
        auth_sock: Option<PathBuf>,
        detail: String,
        hint: &'static str,
    ) {
        tracing::warn!(target = %host.conn.target, %detail, "control master failed");
        {
            let mut st = lock(&host.state);
            st.opening = st.opening.saturating_sub(1);
            st.failures += 1;
            if !st.masters.is_empty() {
                // An extra master failed while another serves (the server may be at MaxStartups):
                // lend the live one's channels and ask again later, less often each time.
                st.extra_backoff =
                    (st.extra_backoff * 2).clamp(EXTRA_BACKOFF_MIN, EXTRA_BACKOFF_MAX);
                st.extra_not_before = Some(Instant::now() + st.extra_backoff);
            }
            st.last_failure = Some(OpenFailure {
                detail,
                hint,
                auth_sock,
            });
        }
        host.changed.notify_waiters();
    }
}

/// The hint of a master that could not be started at all.
const NO_SSH_HINT: &str = "Install OpenSSH or set SSH_MCP_SSH_BIN";

/// The servers `host`'s masters authenticate against: as `ssh -G` last said, within
/// [`gate::SERVERS_KEPT`], else asked again.
async fn servers_for(host: &Host, settings: &SshSettings) -> Vec<String> {
    let known = lock(&host.state)
        .servers
        .clone()
        .filter(|(at, _)| at.elapsed() < gate::SERVERS_KEPT);
    if let Some((_, servers)) = known {
        return servers;
    }
    let servers = gate::servers_of(settings, &host.conn).await;
    lock(&host.state).servers = Some((Instant::now(), servers.clone()));
    servers
}

/// SIGTERM (ssh closes its connection and removes its socket), SIGKILL after two seconds.
async fn terminate(child: &mut tokio::process::Child) {
    spawn::signal(child, libc::SIGTERM);
    if tokio::time::timeout(Duration::from_secs(2), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}
