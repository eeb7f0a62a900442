//! `ssh_start_session`: a new persistent shell on a host (`Sessions.Open` without reuse).

use rmcp::handler::server::common::schema_for_output;
use rmcp::{tool, tool_router};

use super::open::{Open, OpenArgs};
use crate::mcp::tools::call::mcp_entry;
use crate::mcp::tools::session_result::SessionResult;

mcp_entry! {
    ssh_start_session_router: ssh_start_session(OpenArgs) => call_unary::<Open<false>>,
    name = "ssh_start_session",
    description = "Start a persistent shell on a host, kept for all clients. Prefer ssh_ensure_session.",
    title = "Start a session",
    output_schema = schema_for_output::<SessionResult>(),
    annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true)
}
