//! `ssh_stop_forward`: a forward closed; its port is free when the call returns
//! (`Forwards.Stop`).

use rmcp::handler::server::common::schema_for_output;
use rmcp::schemars::{self, JsonSchema};
use rmcp::{tool, tool_router};
use serde::{Deserialize, Serialize};
use ssh_mcp_wire::pb;

use super::{Forward, forward_result};
use crate::mcp::schema;
use crate::mcp::tools::call::{daemon_tool, mcp_entry};
use crate::mcp::tools::services::Forwards;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StopArgs {
    pub forward_id: String,
}

/// ssh_stop_forward's answer.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(transform = schema::portable)]
pub struct Stopped {
    #[serde(flatten)]
    pub forward: Forward,
    pub was_running: bool,
}

daemon_tool! {
    /// `ssh_stop_forward` on the one generic path (`call.rs`).
    SshStopForward: Forwards::stop(StopArgs => pb::StopForwardRequest) -> pb::StopForwardReply,
    |args, _caller| pb::StopForwardRequest {
        forward_id: args.forward_id,
    },
    |reply| forward_result(reply.forward, |forward| Stopped {
        forward,
        was_running: reply.was_running,
    })
}

mcp_entry! {
    ssh_stop_forward_router: ssh_stop_forward(StopArgs) => call_unary::<SshStopForward>,
    name = "ssh_stop_forward",
    description = "Stop a port forward: its port is closed when this returns.",
    title = "Stop a port forward",
    output_schema = schema_for_output::<Stopped>(),
    annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
}
