//! How many masters may be authenticating against one server at once, across the whole pool.
//!
//! sshd drops unauthenticated connections past MaxStartups (10:30:100 by default: past ten, three
//! in ten are refused, more the more there are), and it counts them per server, not per name the
//! user gave it. Twenty aliases of one machine, or twenty hosts behind one ProxyJump (each master
//! runs its own ssh to the jump host), opened at once would lose some of their masters to it. So
//! before a master starts, its task learns where it really connects ([`servers_of`]: `ssh -G`'s
//! hostname and port, and the first jump host) and takes a place at each of those servers
//! ([`OpenGate::enter`]): at most [`OPENING_PER_SERVER`] masters authenticate against one server
//! at once, and [`OPENING_IN_ALL`] in the whole pool. The places are given back as soon as the
//! master is up or has failed. A session's own ssh (one that authenticates on the session's
//! terminal, `sessions::link`) takes no place: it may wait at a prompt as long as a person does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ssh_mcp_core::ssh::argv::SshSettings;
use ssh_mcp_core::ssh::argv::master::resolved_config;
use ssh_mcp_core::ssh::options::connection::Connection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::lock;
use crate::connection::spawn::{self, Stdout};

/// Masters authenticating against one server at once: below sshd's default MaxStartups (10), with
/// room left for the user's own ssh.
pub const OPENING_PER_SERVER: usize = 8;
/// Masters authenticating at once in the whole pool (each is an ssh process and a connection).
pub const OPENING_IN_ALL: usize = 64;
/// How long the servers of a connection are taken as known (a changed ssh config counts after).
pub const SERVERS_KEPT: Duration = Duration::from_secs(60);
/// `ssh -G` reads files only; past this it is stuck (a hung automounted Include).
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);
/// Servers remembered with no master opening; past this, the idle ones are forgotten.
const KEEP_IDLE_SERVERS: usize = 256;

/// The places of masters being opened, per server and in all.
pub struct OpenGate {
    servers: Mutex<HashMap<String, Arc<Semaphore>>>,
    all: Arc<Semaphore>,
}

/// Places taken by one opening master; dropped when it is up or has failed.
pub struct OpenPlaces {
    _held: Vec<OwnedSemaphorePermit>,
}

impl Default for OpenGate {
    fn default() -> Self {
        Self {
            servers: Mutex::new(HashMap::new()),
            all: Arc::new(Semaphore::new(OPENING_IN_ALL)),
        }
    }
}

impl OpenGate {
    /// Waits for a place at each of `servers` (in a fixed order, so two openers never hold one
    /// place each of what the other needs), then for one in the pool. Cancel-safe.
    pub async fn enter(&self, servers: &[String]) -> OpenPlaces {
        let mut names: Vec<&String> = servers.iter().collect();
        names.sort();
        names.dedup();
        let mut held = Vec::with_capacity(names.len() + 1);
        for name in names {
            let semaphore = self.semaphore(name);
            // The semaphores are never closed; a closed one would only mean no limit.
            if let Ok(place) = semaphore.acquire_owned().await {
                held.push(place);
            }
        }
        if let Ok(place) = self.all.clone().acquire_owned().await {
            held.push(place);
        }
        OpenPlaces { _held: held }
    }

    fn semaphore(&self, server: &str) -> Arc<Semaphore> {
        let mut servers = lock(&self.servers);
        if servers.len() > KEEP_IDLE_SERVERS {
            servers.retain(|_, s| {
                Arc::strong_count(s) > 1 || s.available_permits() < OPENING_PER_SERVER
            });
        }
        servers
            .entry(server.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(OPENING_PER_SERVER)))
            .clone()
    }

    /// Masters opening against `server` now (for the tests).
    #[cfg(test)]
    fn opening_at(&self, server: &str) -> usize {
        lock(&self.servers)
            .get(server)
            .map_or(0, |s| OPENING_PER_SERVER - s.available_permits())
    }
}

/// The servers a master of `conn` will authenticate against, as `ssh -G` resolves it: the
/// destination's `hostname:port`, and the first jump host of a ProxyJump. When ssh cannot
/// resolve it, the target as written stands for the server.
pub async fn servers_of(settings: &SshSettings, conn: &Connection) -> Vec<String> {
    let fallback = || vec![conn.target.as_str().to_ascii_lowercase()];
    let argv = resolved_config(settings, conn);
    let Ok(child) = spawn::command(&argv, Stdout::Piped, None) else {
        return fallback();
    };
    match tokio::time::timeout(RESOLVE_TIMEOUT, child.wait_with_output()).await {
        Ok(Ok(out)) if out.status.success() => {
            let servers = servers_in(&String::from_utf8_lossy(&out.stdout));
            if servers.is_empty() {
                fallback()
            } else {
                servers
            }
        }
        _ => fallback(),
    }
}

/// The servers named by `ssh -G` output (one `key value` pair per line, keys in lower case).
fn servers_in(resolved: &str) -> Vec<String> {
    let value = |key: &str| {
        resolved.lines().find_map(|line| {
            let (k, v) = line.split_once(' ')?;
            let v = v.trim();
            (k == key && !v.is_empty()).then_some(v)
        })
    };
    let mut servers = Vec::new();
    if let Some(host) = value("hostname") {
        let port = value("port").unwrap_or("22");
        servers.push(format!("{}:{port}", host.to_ascii_lowercase()));
    }
    if let Some(jump) = value("proxyjump").filter(|j| !j.eq_ignore_ascii_case("none")) {
        // `[user@]host[:port]` or `ssh://[user@]host[:port]`, the first of a comma list: the
        // server the connection starts at.
        let first = jump.split(',').next().unwrap_or(jump);
        let first = first.strip_prefix("ssh://").unwrap_or(first);
        let host_port = first.rsplit_once('@').map_or(first, |(_, h)| h);
        servers.push(format!("jump:{}", host_port.to_ascii_lowercase()));
    }
    servers
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::task::Poll;

    use super::*;

    #[test]
    fn servers_are_the_destination_and_the_first_jump_host() {
        let plain = "user alice\nhostname Web1.Example.org\nport 2222\nproxyjump none\n";
        assert_eq!(servers_in(plain), ["web1.example.org:2222"]);
        let jumped = "hostname 10.0.0.5\nport 22\nproxyjump ops@Bastion:2200,inner\n";
        assert_eq!(servers_in(jumped), ["10.0.0.5:22", "jump:bastion:2200"]);
        let uri = "hostname db\nproxyjump ssh://root@gw.example:22\n";
        assert_eq!(servers_in(uri), ["db:22", "jump:gw.example:22"]);
        assert!(servers_in("").is_empty());
    }

    #[tokio::test]
    async fn one_server_lets_only_so_many_open_at_once() {
        let gate = OpenGate::default();
        let server = vec!["127.0.0.1:22".to_owned()];
        let mut held = Vec::new();
        for _ in 0..OPENING_PER_SERVER {
            held.push(gate.enter(&server).await);
        }
        assert_eq!(gate.opening_at("127.0.0.1:22"), OPENING_PER_SERVER);
        // Another server is not held up by this one.
        drop(gate.enter(&["10.0.0.1:22".to_owned()]).await);
        let mut ninth = std::pin::pin!(gate.enter(&server));
        let ready_at_once =
            std::future::poll_fn(|cx| Poll::Ready(ninth.as_mut().poll(cx).is_ready())).await;
        assert!(!ready_at_once, "a ninth opener waits");
        held.pop();
        let ninth = tokio::time::timeout(Duration::from_secs(5), ninth)
            .await
            .expect("a place given back lets the waiter in");
        assert_eq!(gate.opening_at("127.0.0.1:22"), OPENING_PER_SERVER);
        drop((held, ninth));
        assert_eq!(gate.opening_at("127.0.0.1:22"), 0);
    }
}
