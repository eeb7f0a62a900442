//! `sshmcp.v1.Forwards`: Open, List, Stop. Turns wire types into `forwards::forward` requests
//! and forward snapshots back into wire types.

use std::time::UNIX_EPOCH;

use ssh_mcp_core::pb::{self, forwards_server::Forwards};
use ssh_mcp_core::ssh::forward::RawForward;
use tonic::{Request, Response, Status};

use crate::error::DaemonError;
use crate::forwards::forward::{self, RawOpen};
use crate::forwards::registry::Snapshot;
use crate::state::Daemon;

pub struct ForwardsService {
    daemon: Daemon,
}

impl ForwardsService {
    pub fn new(daemon: Daemon) -> Self {
        Self { daemon }
    }
}

fn wire(s: Snapshot) -> pb::ForwardSnapshot {
    let warning = s.warning();
    let spec = &s.info.spec;
    pb::ForwardSnapshot {
        forward_id: s.info.id.clone(),
        forward_name: s.info.name.clone(),
        target: s.info.target.clone(),
        direction: spec.direction.as_str().to_owned(),
        local_port: u32::from(spec.local_port),
        remote_host: spec.remote_host.clone(),
        remote_port: spec.remote_port.map(u32::from),
        bind_address: spec.bind_address.clone(),
        listen: spec.listen(),
        connect: spec.connect(),
        running: s.running,
        started_at_unix_ms: s
            .info
            .started_at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default(),
        uptime_seconds: (s.uptime.as_secs_f64() * 10.0).round() / 10.0,
        ended_reason: s.ended_reason,
        warning,
        reused_connection: s.info.reused_connection,
        // The daemon's own master binds a local or dynamic forward as asked (it checked the
        // port first); for a remote one sshd decides.
        listen_requested: !spec.direction.listens_here(),
    }
}

#[tonic::async_trait]
impl Forwards for ForwardsService {
    async fn open(
        &self,
        req: Request<pb::OpenForwardRequest>,
    ) -> Result<Response<pb::OpenForwardReply>, Status> {
        if self.daemon.shutdown.is_requested() {
            return Err(DaemonError::ShuttingDown.into());
        }
        let req = req.into_inner();
        let (connection, ssh_auth_sock) = super::raw_connection(req.connection);
        let raw = RawOpen {
            connection,
            ssh_auth_sock,
            forward: RawForward {
                direction: req.direction,
                local_port: req.local_port,
                remote_host: req.remote_host,
                remote_port: req.remote_port,
                bind_address: req.bind_address,
                allow_non_loopback: req.allow_non_loopback,
            },
            name: req.forward_name,
        };
        let opened = forward::open(&self.daemon, raw).await?;
        Ok(Response::new(pb::OpenForwardReply {
            forward: Some(wire(opened.forward)),
            created: opened.created,
        }))
    }

    async fn list(
        &self,
        req: Request<pb::ListForwardsRequest>,
    ) -> Result<Response<pb::ListForwardsReply>, Status> {
        let req = req.into_inner();
        let target = req
            .target
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let forwards = self
            .daemon
            .forwards
            .list(req.include_stopped, target)
            .into_iter()
            .map(wire)
            .collect();
        Ok(Response::new(pb::ListForwardsReply { forwards }))
    }

    async fn stop(
        &self,
        req: Request<pb::StopForwardRequest>,
    ) -> Result<Response<pb::StopForwardReply>, Status> {
        let req = req.into_inner();
        let (snapshot, was_running) = forward::stop(&self.daemon, &req.forward_id).await?;
        Ok(Response::new(pb::StopForwardReply {
            forward: Some(wire(snapshot)),
            was_running,
        }))
    }
}
