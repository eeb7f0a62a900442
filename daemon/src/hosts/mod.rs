//! `ssh_hosts`: the hosts of the user's ssh configuration (`ssh_mcp_core::ssh::config`: every
//! concrete `Host` name, `Include`s followed), each resolved by OpenSSH itself (`ssh -G`, so
//! `Match` blocks, `ProxyJump` and canonicalisation are what ssh would use), with the daemon's
//! connections to it. The list is kept until one of the files it came from (or a directory an
//! `Include` glob looked in) changes.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use ssh_mcp_core::ssh::argv::SshSettings;
use ssh_mcp_core::ssh::argv::master::resolved_config;
use ssh_mcp_core::ssh::config::{Inventory, Scope, read_inventory};
use ssh_mcp_core::ssh::options::connection::{Connection, RawConnection};

use crate::connection::join_all::join_all;
use crate::connection::spawn::{self, Stdout};
use crate::state::Daemon;

/// `ssh -G` reads files only; past this it is stuck (a hung automounted Include).
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);
/// `ssh -G` processes at once.
const RESOLVE_AT_ONCE: usize = 8;
/// The system-wide configuration ssh reads after the user's (unless given `-F`).
const SYSTEM_CONFIG: &str = "/etc/ssh/ssh_config";

/// One host as ssh resolves it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub file: PathBuf,
    pub line: usize,
    pub hostname: String,
    pub user: String,
    pub port: u32,
    pub proxy_jump: Option<String>,
    /// Why ssh could not resolve it.
    pub error: Option<String>,
}

/// The hosts, the files they came from, and what could not be read.
#[derive(Debug, Clone, Default)]
pub struct Listed {
    pub hosts: Vec<Host>,
    pub files: Vec<PathBuf>,
    pub problems: Vec<String>,
}

/// What a listing was made from: each path's modification time and size (or none).
type Signature = Vec<(PathBuf, Option<(SystemTime, u64)>)>;

/// The last listing and what it was made from.
#[derive(Default)]
pub struct HostsCache {
    last: Mutex<Option<(Signature, Listed)>>,
}

fn signature(paths: &[PathBuf]) -> Signature {
    paths
        .iter()
        .map(|p| {
            let meta = std::fs::metadata(p).ok();
            let stamp = meta.and_then(|m| Some((m.modified().ok()?, m.len())));
            (p.clone(), stamp)
        })
        .collect()
}

/// The files whose change makes the listing stale: the top-level files (they may appear), every
/// file read, and the directories they are in (a new file may match an `Include` glob).
fn watched(tops: &[(PathBuf, Scope)], inv: &Inventory) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = tops.iter().map(|(p, _)| p.clone()).collect();
    paths.extend(inv.files.iter().cloned());
    let dirs: Vec<PathBuf> = paths
        .iter()
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .collect();
    paths.extend(dirs);
    paths.sort();
    paths.dedup();
    paths
}

/// The configuration files ssh reads, as the daemon runs it: the operator's `--ssh-config`
/// alone (ssh -F skips the others), else `~/.ssh/config` and the system's.
fn top_files(daemon: &Daemon, home: &Path) -> Vec<(PathBuf, Scope)> {
    match &daemon.config.ssh_config {
        Some(file) => vec![(file.clone(), Scope::User)],
        None => vec![
            (home.join(".ssh").join("config"), Scope::User),
            (PathBuf::from(SYSTEM_CONFIG), Scope::System),
        ],
    }
}

impl HostsCache {
    /// Every concrete host of the configuration, resolved; read again when a file changed.
    pub async fn list(&self, daemon: &Daemon) -> Listed {
        let home = crate::config::home_dir().unwrap_or_else(|| PathBuf::from("/nonexistent"));
        let tops = top_files(daemon, &home);
        if let Some((sig, listed)) = &*lock(&self.last)
            && *sig == signature(&sig.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>())
        {
            return listed.clone();
        }
        let inv = {
            let (tops, home) = (tops.clone(), home.clone());
            daemon
                .shutdown
                .commands
                .spawn_blocking(move || read_inventory(&tops, &home))
                .await
                .unwrap_or_default()
        };
        let sig = signature(&watched(&tops, &inv));
        let settings = daemon.masters.settings().ok();
        let resolving = inv.hosts.iter().map(|h| {
            let settings = settings.clone();
            async move {
                let mut host = Host {
                    name: h.name.clone(),
                    file: h.file.clone(),
                    line: h.line,
                    ..Host::default()
                };
                match settings {
                    Some(s) => resolve(&s, &mut host).await,
                    None => host.error = Some("no ssh binary to resolve it with".into()),
                }
                host
            }
        });
        let mut hosts = Vec::with_capacity(inv.hosts.len());
        let mut pending: Vec<_> = resolving.collect();
        while !pending.is_empty() {
            let rest = pending.split_off(pending.len().min(RESOLVE_AT_ONCE));
            hosts.extend(join_all(pending.into_iter()).await);
            pending = rest;
        }
        let listed = Listed {
            hosts,
            files: inv.files.clone(),
            problems: inv.problems.clone(),
        };
        *lock(&self.last) = Some((sig, listed.clone()));
        listed
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Fills `host` from `ssh -G <name>` (the daemon's own ssh options, as for a connection).
async fn resolve(settings: &SshSettings, host: &mut Host) {
    let raw = RawConnection {
        target: host.name.clone(),
        ..RawConnection::default()
    };
    let conn = match Connection::parse(&raw, None) {
        Ok(c) => c,
        Err(e) => {
            host.error = Some(format!("not usable as a target: {e}"));
            return;
        }
    };
    let argv = resolved_config(settings, &conn);
    let child = match spawn::command(&argv, Stdout::Piped, None) {
        Ok(c) => c,
        Err(e) => {
            host.error = Some(format!("cannot run ssh -G: {e}"));
            return;
        }
    };
    match tokio::time::timeout(RESOLVE_TIMEOUT, child.wait_with_output()).await {
        Ok(Ok(o)) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let value = |key: &str| {
                text.lines().find_map(|l| {
                    let (k, v) = l.split_once(' ')?;
                    (k == key && !v.trim().is_empty()).then(|| v.trim().to_owned())
                })
            };
            host.hostname = value("hostname").unwrap_or_else(|| host.name.clone());
            host.user = value("user").unwrap_or_default();
            host.port = value("port").and_then(|p| p.parse().ok()).unwrap_or(22);
            host.proxy_jump = value("proxyjump").filter(|j| j != "none");
        }
        Ok(Ok(o)) => {
            host.error = Some(String::from_utf8_lossy(&o.stderr).trim().to_owned());
        }
        Ok(Err(e)) => host.error = Some(format!("ssh -G failed: {e}")),
        Err(_) => host.error = Some("ssh -G did not answer within 5 s".into()),
    }
}
