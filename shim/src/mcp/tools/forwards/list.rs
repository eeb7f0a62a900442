//! `ssh_list_forwards`: the daemon's forwards, running or ended (`Forwards.List`).

use rmcp::handler::server::common::schema_for_output;
use rmcp::schemars::{self, JsonSchema};
use rmcp::{tool, tool_router};
use serde::{Deserialize, Serialize};
use ssh_mcp_wire::pb;

use super::Forward;
use crate::mcp::tools::call::{daemon_tool, mcp_entry};
use crate::mcp::tools::services::Forwards;
use crate::mcp::{result, schema};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::portable)]
pub struct ListArgs {
    /// Also list ended forwards (kept an hour).
    pub include_stopped: Option<bool>,
    pub target: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(transform = schema::portable)]
pub struct ForwardList {
    pub count: usize,
    pub forwards: Vec<Forward>,
}

daemon_tool! {
    /// `ssh_list_forwards` on the one generic path (`call.rs`).
    SshListForwards: Forwards::list(ListArgs => pb::ListForwardsRequest) -> pb::ListForwardsReply,
    |args, _caller| pb::ListForwardsRequest {
        include_stopped: args.include_stopped.unwrap_or(false),
        target: args.target,
    },
    |reply| {
        let forwards: Vec<Forward> = reply.forwards.into_iter().map(Forward::from).collect();
        result::success(&ForwardList {
            count: forwards.len(),
            forwards,
        })
    }
}

mcp_entry! {
    ssh_list_forwards_router: ssh_list_forwards(ListArgs) => call_unary::<SshListForwards>,
    name = "ssh_list_forwards",
    description = "List the daemon's port forwards, with whether each runs and why it ended.",
    title = "List port forwards",
    output_schema = schema_for_output::<ForwardList>(),
    annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
}
