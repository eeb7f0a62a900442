//! `sshmcp.v1.Control`: Status (the handshake) and Stop.

use std::sync::atomic::Ordering;

use ssh_mcp_core::paths;
use ssh_mcp_core::pb::{
    MethodCalls, StatusReply, StatusRequest, StopReply, StopRequest, control_server::Control,
};
use ssh_mcp_core::protocol::{PACKAGE_VERSION, PROTOCOL_VERSION};
use tonic::{Request, Response, Status};

use crate::door::Method;
use crate::state::Daemon;

pub struct ControlService {
    daemon: Daemon,
}

impl ControlService {
    pub fn new(daemon: Daemon) -> Self {
        Self { daemon }
    }
}

#[tonic::async_trait]
impl Control for ControlService {
    async fn status(&self, req: Request<StatusRequest>) -> Result<Response<StatusReply>, Status> {
        let d = &self.daemon;
        d.door.enter(Method::ControlStatus, &req)?;
        let pool = d.masters.stats();
        let log = paths::daemon_log_path(&d.config.state_dir);
        Ok(Response::new(StatusReply {
            version: PACKAGE_VERSION.to_owned(),
            protocol: PROTOCOL_VERSION,
            pid: std::process::id(),
            uptime_ms: d.started.elapsed().as_millis() as u64,
            socket_path: d.config.socket_path.display().to_string(),
            socket_activated: d.activated,
            state_dir: d.config.state_dir.display().to_string(),
            log_path: if log.exists() {
                log.display().to_string()
            } else {
                String::new()
            },
            running_commands: d.running_commands.load(Ordering::Relaxed),
            commands_total: d.commands_total.load(Ordering::Relaxed),
            control_masters: pool.masters,
            connections_busy: pool.busy,
            calls_waiting: pool.waiting,
            masters_opening: pool.opening,
            door_calls: d
                .door
                .calls()
                .into_iter()
                .map(|(method, calls)| MethodCalls {
                    method: method.name().to_owned(),
                    calls,
                })
                .collect(),
        }))
    }

    async fn stop(&self, req: Request<StopRequest>) -> Result<Response<StopReply>, Status> {
        let entry = self.daemon.door.enter(Method::ControlStop, &req)?;
        entry.admit(None, "stop the daemon");
        tracing::info!("Stop requested by a client");
        self.daemon.shutdown.begin();
        Ok(Response::new(StopReply {}))
    }
}
