//! The MCP server: an rmcp handler whose tools turn calls into gRPC requests to the daemon.
//! Each tool lives in a file of its own under `tools/`, with its own router; `unary.rs` is the
//! call to the daemon (retry, cancellation); `result.rs` turns daemon answers and failures into
//! tool results.

mod approval;
pub(crate) mod budget;
mod result;
mod schema;
mod tools;
mod unary;

#[cfg(feature = "fuzzing")]
pub use tools::fuzzing;

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    CancelTaskParams, GetTaskParams, GetTaskResult, Implementation, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool_handler};

use crate::daemon_link::DaemonLink;

const INSTRUCTIONS: &str = "ssh-mcp runs commands on remote machines through the user's own OpenSSH \
client, ~/.ssh/config, keys and agent. Use ssh_exec for one-off commands; it reuses one \
connection per host, so many small calls are cheap. Give long commands a timeout: when it \
expires (or the call is cancelled) the remote command and its children are ended. Output is \
capped (max_output_bytes); *_truncated and *_bytes tell what was left out. For interactive or \
long work use a shell session: ssh_ensure_session with a session_name (any client finds it \
again, also a later one), ssh_write_session to type (end commands with \\n), \
ssh_read_session to follow the output (each client has its own read position), \
ssh_run_in_session to run one command there and get its output and exit code, \
ssh_stop_session to end it. ssh_scp and ssh_sync copy files over the same connection. A host that asks for a password shows the prompt in a session: \
answer it with ssh_write_session; ssh_exec to that host then works too. Port forwards (ssh_forward) belong to the daemon and \
outlive the client: stop them with ssh_stop_forward. ssh_view, ssh_create and ssh_edit read and \
change remote files over SFTP, byte-exact (no shell quoting).";

#[derive(Clone)]
pub struct SshMcp {
    link: Arc<DaemonLink>,
    /// Tasks this client was given (`tools/tasks.rs`).
    tasks: tools::TaskBook,
    /// This client's id for session reads: one per shim process, made at start-up.
    reader_id: Arc<str>,
    tool_router: ToolRouter<Self>,
}

impl SshMcp {
    pub fn new(link: Arc<DaemonLink>) -> Self {
        Self {
            link,
            reader_id: tools::new_reader_id().into(),
            tasks: tools::TaskBook::default(),
            tool_router: without_dialect(Self::tools()),
        }
    }
}

/// Drops `$schema` from the tools' schemas: 2020-12 is MCP's default dialect, and every byte of
/// tools/list costs context in each conversation.
fn without_dialect(mut router: ToolRouter<SshMcp>) -> ToolRouter<SshMcp> {
    for route in router.map.values_mut() {
        let tool = &mut route.attr;
        Arc::make_mut(&mut tool.input_schema).remove("$schema");
        if let Some(output) = tool.output_schema.as_mut() {
            Arc::make_mut(output).remove("$schema");
        }
    }
    router
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for SshMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tasks()
                .build(),
        )
        .with_server_info(Implementation::new("ssh-mcp", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        self.task_state(request, context).await
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.cancel_task_job(request, context).await
    }
}
