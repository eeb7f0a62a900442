//! The tools, one per file, grouped by the daemon service they call. A tool file holds its
//! arguments, its description and its result mapping; `call.rs` is the one path from arguments
//! to the daemon call to the result, `services.rs` the services' clients and error types, and
//! `connection.rs` the connection parameters every remote tool shares.

mod call;
mod connection;
mod exec;
mod exec_many;
mod files;
mod forwards;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod hosts;
mod jobs;
mod outputs;
mod search;
mod services;
mod session_result;
mod sessions;
mod tasks;
mod text;
mod transfers;

use rmcp::handler::server::router::tool::ToolRouter;

pub use sessions::new_reader_id;
pub(crate) use tasks::TaskBook;

use crate::mcp::SshMcp;

impl SshMcp {
    /// Every tool's route.
    pub(crate) fn tools() -> ToolRouter<Self> {
        Self::ssh_exec_router()
            + Self::ssh_start_session_router()
            + Self::ssh_ensure_session_router()
            + Self::ssh_read_session_router()
            + Self::ssh_write_session_router()
            + Self::ssh_stop_session_router()
            + Self::ssh_list_sessions_router()
            + Self::ssh_run_in_session_router()
            + Self::ssh_view_router()
            + Self::ssh_create_router()
            + Self::ssh_edit_router()
            + Self::ssh_scp_router()
            + Self::ssh_sync_router()
            + Self::ssh_forward_router()
            + Self::ssh_list_forwards_router()
            + Self::ssh_stop_forward_router()
            + Self::ssh_grep_router()
            + Self::ssh_glob_router()
            + Self::ssh_read_output_router()
            + Self::ssh_stop_job_router()
            + Self::ssh_list_jobs_router()
            + Self::ssh_hosts_router()
            + Self::ssh_exec_many_router()
    }
}
