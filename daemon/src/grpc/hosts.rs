//! `sshmcp.v1.Hosts`: List, the hosts of the user's ssh configuration (`hosts`).

use std::time::Duration;

use ssh_mcp_core::pb::{self, hosts_server::Hosts};
use ssh_mcp_core::ssh::options::connection::{Connection, RawConnection};
use tonic::{Request, Response, Status};

use crate::connection::join_all::join_all;
use crate::door::{Call, Class, Method};
use crate::hosts::Host;
use crate::state::Daemon;
use crate::trust::policy::Verdict;
use crate::trust::policy::glob::matches;

pub struct HostsService {
    daemon: Daemon,
}

impl HostsService {
    pub fn new(daemon: Daemon) -> Self {
        Self { daemon }
    }
}

/// How long a probe may take to open a connection.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Probes at once.
const PROBES_AT_ONCE: usize = 8;

impl HostsService {
    /// What the policy says of running a command on `name` (as an `ssh_exec` would be judged).
    async fn policy(&self, conn: Option<&Connection>) -> &'static str {
        let Some(conn) = conn else {
            return "deny";
        };
        let trust = self.daemon.door.trust();
        let settings = self.daemon.masters.settings().ok();
        let names = trust.resolved_names(settings.as_ref(), conn).await;
        match trust.loaded().decide(&names, Class::Exec).verdict {
            Verdict::Allow => "allow",
            Verdict::Ask => "ask",
            Verdict::Deny => "deny",
        }
    }

    /// Opens (or finds) a connection to `conn` through the pool: reachable, or ssh's message.
    async fn probe(
        &self,
        conn: &Connection,
        auth_sock: Option<&std::path::Path>,
    ) -> (bool, String) {
        match tokio::time::timeout(PROBE_TIMEOUT, self.daemon.masters.acquire(conn, auth_sock))
            .await
        {
            Ok(Ok(_lease)) => (true, String::new()),
            Ok(Err(e)) => (false, e.to_string()),
            Err(_) => (
                false,
                format!("no connection within {} s", PROBE_TIMEOUT.as_secs()),
            ),
        }
    }

    async fn row(&self, h: Host, probe: bool, auth_sock: Option<&std::path::Path>) -> pb::HostInfo {
        let raw = RawConnection {
            target: h.name.clone(),
            ..RawConnection::default()
        };
        let conn = Connection::parse(&raw, None).ok();
        let policy = self.policy(conn.as_ref()).await;
        let (reachable, probe_error) = match (&conn, probe) {
            (Some(conn), true) if policy != "deny" => {
                let (ok, why) = self.probe(conn, auth_sock).await;
                (Some(ok), why)
            }
            (_, true) if policy == "deny" => {
                (None, "not probed: the policy denies commands there".into())
            }
            _ => (None, String::new()),
        };
        let state = self.daemon.masters.target_state(&h.name);
        let connection = match (state.masters, state.channels_in_use) {
            (0, _) => "none",
            (_, 0) => "idle",
            _ => "busy",
        };
        pb::HostInfo {
            name: h.name,
            hostname: h.hostname,
            user: h.user,
            port: h.port,
            proxy_jump: h.proxy_jump,
            file: h.file.display().to_string(),
            line: h.line as u32,
            connection: connection.into(),
            channels_in_use: state.channels_in_use,
            idle_seconds: state.idle_for.map(|d| d.as_secs_f64()),
            error: h.error.unwrap_or_default(),
            policy: policy.into(),
            reachable,
            probe_error,
        }
    }
}

#[tonic::async_trait]
impl Hosts for HostsService {
    async fn list(
        &self,
        req: Request<pb::ListHostsRequest>,
    ) -> Result<Response<pb::ListHostsReply>, Status> {
        let entry = self.daemon.door.enter(Method::HostsList, &req)?;
        let answer = async {
            let req = req.into_inner();
            let filter = req.filter.map(|f| f.trim().to_owned());
            let summary = if req.probe {
                "list and probe hosts"
            } else {
                "list hosts"
            };
            entry.admit(Call::none(summary)).await?;
            let auth_sock = req
                .ssh_auth_sock
                .filter(|s| s.starts_with('/'))
                .map(std::path::PathBuf::from);
            let listed = self.daemon.hosts.list(&self.daemon).await;
            let mut chosen: Vec<Host> = listed
                .hosts
                .into_iter()
                .filter(|h| filter.as_deref().is_none_or(|f| matches(f, &h.name)))
                .collect();
            let mut hosts = Vec::with_capacity(chosen.len());
            while !chosen.is_empty() {
                let rest = chosen.split_off(chosen.len().min(PROBES_AT_ONCE));
                let rows = chosen
                    .into_iter()
                    .map(|h| self.row(h, req.probe, auth_sock.as_deref()));
                hosts.extend(join_all(rows).await);
                chosen = rest;
            }
            Ok::<_, crate::error::DaemonError>(Response::new(pb::ListHostsReply {
                hosts,
                problems: listed.problems,
                files: listed
                    .files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect(),
            }))
        }
        .await
        .map_err(Status::from);
        entry.settle(answer)
    }
}
