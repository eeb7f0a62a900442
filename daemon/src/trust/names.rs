//! The names a policy matches a target by: as the agent wrote it, its host part, the
//! `user@host` forms, and the HostName and User that OpenSSH itself resolves (`ssh -G`, with the
//! call's own connection options), so an alias in `~/.ssh/config` cannot lead around a rule
//! written for the host it points to. Resolutions are cached briefly per connection.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ssh_mcp_core::ssh::argv::SshSettings;
use ssh_mcp_core::ssh::argv::master::{resolved_config, resolved_names};
use ssh_mcp_core::ssh::options::connection::Connection;

use crate::connection::spawn::{self, Stdout};

/// How long a resolution is reused (a changed ssh config is seen after this).
const CACHE_FOR: Duration = Duration::from_secs(5);
/// The most connections remembered; past it the cache starts again.
const CACHE_ENTRIES: usize = 1024;
/// `ssh -G` reads files only; past this it is stuck (a hung automounted Include).
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The cache of resolutions.
#[derive(Default)]
pub struct Resolver {
    cache: Mutex<HashMap<String, (Instant, Vec<String>)>>,
}

impl Resolver {
    /// Every name of `conn`'s target. When ssh cannot resolve it (no ssh binary, a broken
    /// config) the written names alone: ssh would then fail to connect as well.
    pub async fn names(&self, settings: Option<&SshSettings>, conn: &Connection) -> Vec<String> {
        let key = conn.pool_key();
        if let Some((at, names)) = lock(&self.cache).get(&key)
            && at.elapsed() < CACHE_FOR
        {
            return names.clone();
        }
        let written = conn.target.as_str();
        let resolved = match settings {
            Some(s) => resolve(s, conn).await,
            None => None,
        };
        let names = all_names(written, resolved.as_ref());
        let mut cache = lock(&self.cache);
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key, (Instant::now(), names.clone()));
        names
    }
}

/// HostName and User as ssh resolves them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub hostname: Option<String>,
    pub user: Option<String>,
}

async fn resolve(settings: &SshSettings, conn: &Connection) -> Option<Resolved> {
    let argv = resolved_config(settings, conn);
    let child = match spawn::command(&argv, Stdout::Piped, None) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("cannot resolve {} with ssh -G: {e}", conn.target.as_str());
            return None;
        }
    };
    let output = tokio::time::timeout(RESOLVE_TIMEOUT, child.wait_with_output()).await;
    match output {
        Ok(Ok(o)) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let (hostname, user) = resolved_names(&text);
            Some(Resolved {
                hostname: hostname.map(str::to_owned),
                user: user.map(str::to_owned),
            })
        }
        Ok(Ok(o)) => {
            tracing::warn!(
                "ssh -G {} failed: {}",
                conn.target.as_str(),
                String::from_utf8_lossy(&o.stderr).trim()
            );
            None
        }
        Ok(Err(e)) => {
            tracing::warn!("ssh -G {} failed: {e}", conn.target.as_str());
            None
        }
        Err(_) => {
            tracing::warn!("ssh -G {} did not answer in time", conn.target.as_str());
            None
        }
    }
}

/// The names of a target written `written` that ssh resolved to `resolved`.
pub fn all_names(written: &str, resolved: Option<&Resolved>) -> Vec<String> {
    let mut names = vec![written.to_owned()];
    let (written_user, host) = match written.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, written),
    };
    names.push(host.to_owned());
    let user = written_user.or_else(|| resolved.and_then(|r| r.user.as_deref()));
    if let Some(u) = user {
        names.push(format!("{u}@{host}"));
    }
    if let Some(h) = resolved.and_then(|r| r.hostname.as_deref()) {
        names.push(h.to_owned());
        if let Some(u) = user {
            names.push(format!("{u}@{h}"));
        }
    }
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alias_is_known_by_its_hostname_and_user_too() {
        let r = Resolved {
            hostname: Some("db1.prod.example.com".into()),
            user: Some("deploy".into()),
        };
        assert_eq!(
            all_names("db", Some(&r)),
            [
                "db",
                "deploy@db",
                "db1.prod.example.com",
                "deploy@db1.prod.example.com"
            ]
        );
        assert_eq!(
            all_names("root@db", Some(&r)),
            [
                "root@db",
                "db",
                "db1.prod.example.com",
                "root@db1.prod.example.com"
            ]
        );
        assert_eq!(all_names("web", None), ["web"]);
    }
}
