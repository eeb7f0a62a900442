//! `ssh_start_session`: a new persistent shell on a host (`Sessions.Open` without reuse).

use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, tool, tool_router};

use super::open::{Open, OpenArgs};
use crate::mcp::SshMcp;
use crate::mcp::tools::session_result::SessionResult;

#[tool_router(router = ssh_start_session_router, vis = "pub(crate)")]
impl SshMcp {
    #[tool(
        name = "ssh_start_session",
        description = "Start a persistent shell on a host, kept for all clients. Prefer ssh_ensure_session.",
        title = "Start a session",
        output_schema = schema_for_output::<SessionResult>(),
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true)
    )]
    async fn ssh_start_session(
        &self,
        Parameters(args): Parameters<OpenArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        self.call_unary::<Open<false>>(args, ctx).await
    }
}
