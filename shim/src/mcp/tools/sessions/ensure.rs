//! `ssh_ensure_session`: the running session of a target (and name) if there is one, else a new
//! one (`Sessions.Open` with `ensure`).

use rmcp::handler::server::common::schema_for_output;
use rmcp::{tool, tool_router};

use super::open::{Open, OpenArgs};
use crate::mcp::tools::call::mcp_entry;
use crate::mcp::tools::session_result::SessionResult;

mcp_entry! {
    ssh_ensure_session_router: ssh_ensure_session(OpenArgs) => call_unary::<Open<true>>,
    name = "ssh_ensure_session",
    description = "Reuse the running session of target (+session_name) or start one. On reuse cwd, env, shell, auto_close are ignored.",
    title = "Ensure a session",
    output_schema = schema_for_output::<SessionResult>(),
    annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = true)
}
