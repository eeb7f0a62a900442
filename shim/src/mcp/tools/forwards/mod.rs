//! The forward tools: ssh_forward (drop-in for the seed's, plus `dynamic`, `forward_name` and
//! `allow_non_loopback`), ssh_list_forwards and ssh_stop_forward, one tool per file. Forwards
//! live in the daemon, on its ControlMasters, so they outlive this client; any client lists and
//! stops them. What all three answer with, a forward, is here.

use rmcp::model::CallToolResult;
use rmcp::schemars::{self, JsonSchema};
use serde::Serialize;
use ssh_mcp_wire::pb;

use crate::mcp::{result, schema};

pub(super) mod forward;
pub(super) mod list;
pub(super) mod stop;

/// One forward. Optional values are absent rather than null.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(inline, transform = schema::portable)]
pub struct Forward {
    pub forward_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward_name: Option<String>,
    pub target: String,
    pub direction: String,
    pub local_port: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_port: Option<u32>,
    pub bind_address: String,
    /// Where it listens, e.g. 127.0.0.1:8080 or [::1]:8080.
    pub listen: String,
    /// true (remote): listen is what sshd was asked for; its GatewayPorts decides the bind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen_requested: Option<bool>,
    pub connect: String,
    pub running: bool,
    pub uptime_seconds: f64,
    /// Why it ended: stopped, connection-lost: ..., daemon-stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl From<pb::ForwardSnapshot> for Forward {
    fn from(f: pb::ForwardSnapshot) -> Self {
        Self {
            forward_id: f.forward_id,
            forward_name: f.forward_name,
            target: f.target,
            direction: f.direction,
            local_port: f.local_port,
            remote_host: f.remote_host,
            remote_port: f.remote_port,
            bind_address: f.bind_address,
            listen: f.listen,
            listen_requested: f.listen_requested.then_some(true),
            connect: f.connect,
            running: f.running,
            uptime_seconds: f.uptime_seconds,
            ended_reason: f.ended_reason,
            warning: f.warning,
        }
    }
}

/// The tool result of a reply that carries one forward (the daemon always sends it): `answer`
/// made of that forward.
fn forward_result<T: Serialize>(
    forward: Option<pb::ForwardSnapshot>,
    answer: impl FnOnce(Forward) -> T,
) -> CallToolResult {
    match forward {
        Some(f) => result::success(&answer(f.into())),
        None => result::failure("internal_error", "the daemon sent no forward".into()),
    }
}
