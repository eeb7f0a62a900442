//! `ssh_ensure_session`: the running session of a target (and name) if there is one, else a new
//! one (`Sessions.Open` with `ensure`).

use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, tool, tool_router};

use super::open::{Open, OpenArgs};
use crate::mcp::SshMcp;
use crate::mcp::tools::session_result::SessionResult;

#[tool_router(router = ssh_ensure_session_router, vis = "pub(crate)")]
impl SshMcp {
    #[tool(
        name = "ssh_ensure_session",
        description = "Reuse the running session of target (+session_name) or start one. On reuse cwd, env, shell, auto_close are ignored.",
        title = "Ensure a session",
        output_schema = schema_for_output::<SessionResult>(),
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = true)
    )]
    async fn ssh_ensure_session(
        &self,
        Parameters(args): Parameters<OpenArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        self.call_unary::<Open<true>>(args, ctx).await
    }
}
