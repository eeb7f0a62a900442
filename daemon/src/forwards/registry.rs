//! [`ForwardRegistry`]: every forward of the daemon by id, running or ended, and the rules
//! between them: a name names one running forward, one listening port belongs to one forward, and
//! ended forwards are pruned after [`KEEP_ENDED`].

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use ssh_mcp_core::ssh::mux::forward::ForwardSpec;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How long an ended forward stays listed (with `include_stopped`).
pub const KEEP_ENDED: Duration = Duration::from_secs(3600);

/// What a forward is, fixed when it opens.
#[derive(Debug, Clone)]
pub struct ForwardInfo {
    pub id: String,
    pub name: Option<String>,
    /// The target as the agent wrote it, and the pool key of its connection.
    pub target: String,
    pub pool_key: String,
    pub spec: ForwardSpec,
    pub started_at: SystemTime,
    pub started: Instant,
    pub reused_connection: bool,
}

/// A forward and what it is doing now.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub info: ForwardInfo,
    pub running: bool,
    pub ended_reason: Option<String>,
    pub uptime: Duration,
}

impl Snapshot {
    /// A warning for the agent, when the forward listens where other machines can reach it (a
    /// remote forward: when it asked sshd to, which sshd's GatewayPorts may refuse).
    pub fn warning(&self) -> Option<String> {
        let spec = &self.info.spec;
        spec.non_loopback.then(|| {
            if spec.direction.listens_here() {
                format!(
                    "{} listens on {}, which other machines can reach",
                    self.info.id,
                    spec.listen()
                )
            } else {
                format!(
                    "{} asked the sshd of {} to listen on {}, which other machines could reach; \
                     sshd binds it there only with GatewayPorts clientspecified (yes: every \
                     address; no: loopback only)",
                    self.info.id,
                    self.info.target,
                    spec.listen()
                )
            }
        })
    }
}

struct Entry {
    info: ForwardInfo,
    /// `None` while running; the reason and the time once ended.
    ended: Option<(String, Instant)>,
    /// Cancelled to ask the forward's task to close it.
    stop: CancellationToken,
    /// Becomes true when the task has closed the forward (or lost it).
    done: watch::Receiver<bool>,
}

/// Handles the forward's task keeps to report its end.
pub struct Registration {
    pub stop: CancellationToken,
    pub done: watch::Sender<bool>,
}

#[derive(Default)]
pub struct ForwardRegistry {
    forwards: Mutex<BTreeMap<String, Entry>>,
    /// Opens one at a time, so that two calls cannot both take a port or a name.
    pub(crate) opening: tokio::sync::Mutex<()>,
}

/// Why a new forward may not open next to the ones there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clash {
    /// A running forward of this name has the same fields: return it.
    SameName(Box<Snapshot>),
    /// The request conflicts; the message says with what.
    Refused(String),
}

impl std::fmt::Debug for ForwardRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ForwardRegistry")
    }
}

impl PartialEq for Snapshot {
    fn eq(&self, other: &Self) -> bool {
        self.info.id == other.info.id && self.running == other.running
    }
}

impl Eq for Snapshot {}

fn snapshot(e: &Entry) -> Snapshot {
    let uptime = match &e.ended {
        Some((_, at)) => at.saturating_duration_since(e.info.started),
        None => e.info.started.elapsed(),
    };
    Snapshot {
        info: e.info.clone(),
        running: e.ended.is_none(),
        ended_reason: e.ended.as_ref().map(|(r, _)| r.clone()),
        uptime,
    }
}

impl ForwardRegistry {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        let mut map = self
            .forwards
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, e| !matches!(&e.ended, Some((_, at)) if at.elapsed() > KEEP_ENDED));
        map
    }

    /// Whether a forward named `name` for `pool_key` with `spec` may open, or what stands in the
    /// way. Call with `opening` held.
    pub fn check(
        &self,
        name: Option<&str>,
        pool_key: &str,
        spec: &ForwardSpec,
    ) -> Result<(), Clash> {
        let map = self.lock();
        let running = || map.values().filter(|e| e.ended.is_none());
        if let Some(name) = name
            && let Some(e) = running().find(|e| e.info.name.as_deref() == Some(name))
        {
            if e.info.pool_key == pool_key && e.info.spec == *spec {
                return Err(Clash::SameName(Box::new(snapshot(e))));
            }
            return Err(Clash::Refused(format!(
                "a running forward is named '{name}' ({}, {}) with other parameters; stop it \
                 (ssh_stop_forward {}) or choose another forward_name",
                e.info.target, e.info.spec, e.info.id
            )));
        }
        let here = spec.direction.listens_here();
        if let Some(e) = running().find(|e| {
            e.info.spec.local_port == spec.local_port
                && e.info.spec.direction.listens_here() == here
                && (here || e.info.pool_key == pool_key)
        }) {
            let place = if here { "this machine" } else { "that host" };
            return Err(Clash::Refused(format!(
                "port {} on {place} is already taken by forward {} ({}); stop it first or \
                 choose another local_port",
                spec.local_port, e.info.id, e.info.spec
            )));
        }
        Ok(())
    }

    /// Lists a forward that has just opened; its task reports its end through the result.
    pub fn insert(&self, info: ForwardInfo) -> Registration {
        let stop = CancellationToken::new();
        let (done_tx, done) = watch::channel(false);
        self.lock().insert(
            info.id.clone(),
            Entry {
                info,
                ended: None,
                stop: stop.clone(),
                done,
            },
        );
        Registration {
            stop,
            done: done_tx,
        }
    }

    /// Records the end of forward `id` (the first reason given wins).
    pub fn ended(&self, id: &str, reason: String) {
        if let Some(e) = self.lock().get_mut(id)
            && e.ended.is_none()
        {
            e.ended = Some((reason, Instant::now()));
        }
    }

    pub fn get(&self, id: &str) -> Option<Snapshot> {
        self.lock().get(id).map(snapshot)
    }

    /// The forwards, oldest first: running ones, and ended ones too with `include_stopped`;
    /// only those whose target is `target` when it is given.
    pub fn list(&self, include_stopped: bool, target: Option<&str>) -> Vec<Snapshot> {
        let mut out: Vec<Snapshot> = self
            .lock()
            .values()
            .filter(|e| include_stopped || e.ended.is_none())
            .filter(|e| target.is_none_or(|t| e.info.target == t))
            .map(snapshot)
            .collect();
        out.sort_by_key(|s| s.info.started);
        out
    }

    /// The handles to stop forward `id` and to learn when it has: `None` for an unknown id.
    pub fn stop_handles(&self, id: &str) -> Option<(CancellationToken, watch::Receiver<bool>)> {
        self.lock()
            .get(id)
            .map(|e| (e.stop.clone(), e.done.clone()))
    }
}

#[cfg(test)]
mod tests {
    use ssh_mcp_core::ssh::mux::forward::RawForward;

    use super::*;

    fn spec(direction: &str, port: u32) -> ForwardSpec {
        ForwardSpec::parse(&RawForward {
            direction: direction.into(),
            local_port: Some(port),
            remote_host: (direction != "dynamic").then(|| "db".into()),
            remote_port: (direction != "dynamic").then_some(5432),
            ..Default::default()
        })
        .unwrap()
    }

    fn info(id: &str, name: Option<&str>, key: &str, spec: ForwardSpec) -> ForwardInfo {
        ForwardInfo {
            id: id.into(),
            name: name.map(Into::into),
            target: key.into(),
            pool_key: key.into(),
            spec,
            started_at: SystemTime::now(),
            started: Instant::now(),
            reused_connection: false,
        }
    }

    #[test]
    fn one_local_port_belongs_to_one_forward() {
        let r = ForwardRegistry::default();
        let _reg = r.insert(info("a", None, "h1", spec("local", 8080)));
        let clash = r.check(None, "h2", &spec("dynamic", 8080)).unwrap_err();
        assert!(
            matches!(&clash, Clash::Refused(m) if m.contains("port 8080") && m.contains(" a ")),
            "{clash:?}"
        );
        assert!(r.check(None, "h1", &spec("local", 8081)).is_ok());
        // A remote forward listens on the host: port 8080 there is another port.
        assert!(r.check(None, "h1", &spec("remote", 8080)).is_ok());
        r.ended("a", "stopped".into());
        assert!(r.check(None, "h2", &spec("local", 8080)).is_ok());
    }

    #[test]
    fn a_name_returns_its_forward_or_refuses_other_fields() {
        let r = ForwardRegistry::default();
        let _reg = r.insert(info("a", Some("db"), "h1", spec("local", 8080)));
        assert!(matches!(
            r.check(Some("db"), "h1", &spec("local", 8080)),
            Err(Clash::SameName(s)) if s.info.id == "a"
        ));
        assert!(matches!(
            r.check(Some("db"), "h1", &spec("local", 9090)),
            Err(Clash::Refused(m)) if m.contains("named 'db'")
        ));
        assert!(matches!(
            r.check(Some("db"), "h2", &spec("local", 8080)),
            Err(Clash::Refused(_))
        ));
    }

    #[test]
    fn ended_forwards_are_listed_on_request_with_their_reason() {
        let r = ForwardRegistry::default();
        let _a = r.insert(info("a", None, "h1", spec("local", 8080)));
        let _b = r.insert(info("b", None, "h2", spec("local", 8081)));
        r.ended("a", "connection lost".into());
        r.ended("a", "later reasons do not win".into());
        assert_eq!(r.list(false, None).len(), 1);
        let all = r.list(true, None);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].ended_reason.as_deref(), Some("connection lost"));
        assert!(!all[0].running && all[1].running);
        assert_eq!(r.list(true, Some("h2")).len(), 1);
    }
}
