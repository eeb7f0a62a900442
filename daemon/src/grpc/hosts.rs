//! `sshmcp.v1.Hosts`: List, the hosts of the user's ssh configuration (`hosts`).

use ssh_mcp_core::pb::{self, hosts_server::Hosts};
use tonic::{Request, Response, Status};

use crate::door::{Call, Method};
use crate::state::Daemon;
use crate::trust::policy::glob::matches;

pub struct HostsService {
    daemon: Daemon,
}

impl HostsService {
    pub fn new(daemon: Daemon) -> Self {
        Self { daemon }
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
            let filter = req.into_inner().filter.map(|f| f.trim().to_owned());
            entry.admit(Call::none("list hosts")).await?;
            let listed = self.daemon.hosts.list(&self.daemon).await;
            let hosts = listed
                .hosts
                .into_iter()
                .filter(|h| filter.as_deref().is_none_or(|f| matches(f, &h.name)))
                .map(|h| {
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
                    }
                })
                .collect();
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
