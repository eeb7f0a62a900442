//! `sshmcp.v1.Forwards`: Open, List, Stop. Turns wire types into `forwards::forward` requests
//! and forward snapshots back into wire types.

use std::time::UNIX_EPOCH;

use ssh_mcp_core::pb::{self, forwards_server::Forwards};
use ssh_mcp_core::ssh::mux::forward::RawForward;
use tonic::{Request, Response, Status};

use crate::door::{Call, Entry, Method};
use crate::forwards::forward::{self, RawOpen};
use crate::forwards::registry::Snapshot;
use crate::state::Daemon;
use crate::trust::Subject;

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

/// A port as a summary shows it (`-` when not given).
fn shown(port: Option<u32>) -> String {
    port.map_or_else(|| "-".into(), |p| p.to_string())
}

#[tonic::async_trait]
impl Forwards for ForwardsService {
    async fn open(
        &self,
        req: Request<pb::OpenForwardRequest>,
    ) -> Result<Response<pb::OpenForwardReply>, Status> {
        let entry = self.daemon.door.enter(Method::ForwardsOpen, &req)?;
        entry.settle(self.open_call(&entry, req).await)
    }

    async fn list(
        &self,
        req: Request<pb::ListForwardsRequest>,
    ) -> Result<Response<pb::ListForwardsReply>, Status> {
        let entry = self.daemon.door.enter(Method::ForwardsList, &req)?;
        entry.settle(self.list_call(req).await)
    }

    async fn stop(
        &self,
        req: Request<pb::StopForwardRequest>,
    ) -> Result<Response<pb::StopForwardReply>, Status> {
        let entry = self.daemon.door.enter(Method::ForwardsStop, &req)?;
        entry.settle(self.stop_call(&entry, req).await)
    }
}

impl ForwardsService {
    async fn open_call(
        &self,
        entry: &Entry,
        req: Request<pb::OpenForwardRequest>,
    ) -> Result<Response<pb::OpenForwardReply>, Status> {
        let req = req.into_inner();
        let common = entry.common(&super::raw_common(req.connection, None))?;
        entry
            .admit(Call::on(
                Subject::Connection(&common.conn),
                format!(
                    "{} forward: local port {}, remote {}:{}",
                    req.direction,
                    shown(req.local_port),
                    req.remote_host.as_deref().unwrap_or("-"),
                    shown(req.remote_port)
                ),
            ))
            .await?;
        let raw = RawOpen {
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
        let opened = forward::open(&self.daemon, common, raw).await?;
        Ok(Response::new(pb::OpenForwardReply {
            forward: Some(wire(opened.forward)),
            created: opened.created,
        }))
    }

    async fn list_call(
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

    async fn stop_call(
        &self,
        entry: &Entry,
        req: Request<pb::StopForwardRequest>,
    ) -> Result<Response<pb::StopForwardReply>, Status> {
        let req = req.into_inner();
        let target = self
            .daemon
            .forwards
            .get(&req.forward_id)
            .map(|f| f.info.target);
        let summary = format!("stop forward {}", req.forward_id);
        entry
            .admit(match target.as_deref() {
                Some(t) => Call::on(Subject::Written(t), summary),
                None => Call::none(summary),
            })
            .await?;
        let (snapshot, was_running) = forward::stop(&self.daemon, &req.forward_id).await?;
        Ok(Response::new(pb::StopForwardReply {
            forward: Some(wire(snapshot)),
            was_running,
        }))
    }
}
