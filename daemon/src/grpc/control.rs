//! `sshmcp.v1.Control`: Status (the handshake) and Stop.

use std::sync::atomic::Ordering;

use ssh_mcp_core::paths;
use ssh_mcp_core::pb::{
    CheckPolicyReply, CheckPolicyRequest, ClassVerdict, ExplainPolicyReply, ExplainPolicyRequest,
    MethodCalls, StatusReply, StatusRequest, StopReply, StopRequest, control_server::Control,
};
use ssh_mcp_core::protocol::{PACKAGE_VERSION, PROTOCOL_VERSION};
use tonic::{Request, Response, Status};

use crate::door::{Call, Class, Entry, Method};
use crate::error::DaemonError;
use crate::state::Daemon;
use crate::trust::Source;
use crate::trust::policy::Verdict;

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
            ..policy_status(d)
        }))
    }

    async fn check_policy(
        &self,
        req: Request<CheckPolicyRequest>,
    ) -> Result<Response<CheckPolicyReply>, Status> {
        let entry = self.daemon.door.enter(Method::ControlCheckPolicy, &req)?;
        let req = req.into_inner();
        let trust = self.daemon.door.trust();
        let (path, text) = match req.text {
            Some(text) => (req.path, text),
            None => {
                let path = trust.path().display().to_string();
                match std::fs::read_to_string(trust.path()) {
                    Ok(text) => (path, text),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => (path, String::new()),
                    Err(e) => {
                        return entry.settle(Ok(Response::new(CheckPolicyReply {
                            ok: false,
                            error: format!("cannot read it: {e}"),
                            path,
                            ..Default::default()
                        })));
                    }
                }
            }
        };
        let reply = match crate::trust::check(&text) {
            Ok(policy) => CheckPolicyReply {
                ok: true,
                path,
                targets: policy.targets.len() as u32,
                ..Default::default()
            },
            Err(e) => CheckPolicyReply {
                ok: false,
                path,
                error: e.to_string(),
                line: e.line as u32,
                column: e.column as u32,
                targets: 0,
            },
        };
        entry.settle(Ok(Response::new(reply)))
    }

    async fn explain_policy(
        &self,
        req: Request<ExplainPolicyRequest>,
    ) -> Result<Response<ExplainPolicyReply>, Status> {
        let entry = self.daemon.door.enter(Method::ControlExplainPolicy, &req)?;
        let answer = self.explain(req.into_inner().target).await;
        entry.settle(answer)
    }

    async fn stop(&self, req: Request<StopRequest>) -> Result<Response<StopReply>, Status> {
        let entry = self.daemon.door.enter(Method::ControlStop, &req)?;
        entry.settle(self.stop_call(&entry).await)
    }
}

impl ControlService {
    async fn stop_call(&self, entry: &Entry) -> Result<Response<StopReply>, Status> {
        entry.admit(Call::none("stop the daemon")).await?;
        tracing::info!("Stop requested by a client");
        self.daemon.shutdown.begin();
        Ok(Response::new(StopReply {}))
    }
}

impl ControlService {
    async fn explain(&self, target: String) -> Result<Response<ExplainPolicyReply>, Status> {
        let raw = ssh_mcp_core::ssh::options::connection::RawConnection {
            target,
            ..Default::default()
        };
        let home = crate::config::home_dir();
        let conn = ssh_mcp_core::ssh::options::connection::Connection::parse(&raw, home.as_deref())
            .map_err(DaemonError::from)?;
        let trust = self.daemon.door.trust();
        let settings = self.daemon.masters.settings().ok();
        let names = trust.resolved_names(settings.as_ref(), &conn).await;
        let loaded = trust.loaded();
        let mut rule = String::new();
        let classes = Class::POLICY
            .iter()
            .map(|c| {
                let d = loaded.decide(&names, *c);
                rule = d.rule_label();
                ClassVerdict {
                    class: c.name().to_owned(),
                    verdict: match d.verdict {
                        Verdict::Allow => "allow",
                        Verdict::Ask => "ask",
                        Verdict::Deny => "deny",
                    }
                    .to_owned(),
                }
            })
            .collect();
        let local = &loaded.policy.local;
        Ok(Response::new(ExplainPolicyReply {
            policy_path: trust.path().display().to_string(),
            policy_source: source_name(&loaded.source).to_owned(),
            names,
            rule,
            classes,
            local_read: local.read.clone(),
            local_write: local.write.clone(),
            ssh_files: local.ssh_files.clone(),
            upload_secrets: local.upload_secrets,
            download_into_protected: local.download_into_protected,
        }))
    }
}

fn source_name(source: &Source) -> &'static str {
    match source {
        Source::Default => "default",
        Source::File => "file",
        Source::Invalid => "invalid",
    }
}

/// The policy and audit fields of Status.
fn policy_status(d: &Daemon) -> StatusReply {
    let trust = d.door.trust();
    let loaded = trust.loaded();
    let (audit_failures, audit_error) = trust.audit.failures();
    StatusReply {
        policy_path: trust.path().display().to_string(),
        policy_source: source_name(&loaded.source).to_owned(),
        policy_error: loaded.error.clone().unwrap_or_default(),
        audit_path: trust.audit.path().display().to_string(),
        audit_failures,
        audit_error: audit_error.unwrap_or_default(),
        ..Default::default()
    }
}
