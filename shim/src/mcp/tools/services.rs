//! The daemon's services as the tools call them: each one's client, with the largest answer it
//! may send, and the error types of its tools.

use rmcp::model::CallToolResult;
use ssh_mcp_wire::pb::exec_client::ExecClient;
use ssh_mcp_wire::pb::files_client::FilesClient;
use ssh_mcp_wire::pb::forwards_client::ForwardsClient;
use ssh_mcp_wire::pb::hosts_client::HostsClient;
use ssh_mcp_wire::pb::jobs_client::JobsClient;
use ssh_mcp_wire::pb::outputs_client::OutputsClient;
use ssh_mcp_wire::pb::search_client::SearchClient;
use ssh_mcp_wire::pb::sessions_client::SessionsClient;
use ssh_mcp_wire::pb::transfers_client::TransfersClient;
use tonic::transport::Channel;

use super::call::Service;
use crate::mcp::result;

/// `Exec`: ssh_exec.
pub(crate) struct Exec;

impl Service for Exec {
    type Client = ExecClient<Channel>;

    fn client(channel: Channel) -> Self::Client {
        // A result holds the head and tail of each stream, each at most as many bytes as the
        // largest result budget (1,000,000 characters): 4 MB, plus room.
        const MAX_RESULT_BYTES: usize = 16 << 20;
        ExecClient::new(channel).max_decoding_message_size(MAX_RESULT_BYTES)
    }
}

/// `Outputs`: ssh_read_output.
pub(crate) struct Outputs;

impl Service for Outputs {
    type Client = OutputsClient<Channel>;

    fn client(channel: Channel) -> Self::Client {
        // A page is at most 16 MiB; tonic's default limit is 4 MiB.
        const MAX_PAGE_MESSAGE_BYTES: usize = 17 << 20;
        OutputsClient::new(channel).max_decoding_message_size(MAX_PAGE_MESSAGE_BYTES)
    }
}

/// `Hosts`: ssh_hosts.
pub(crate) struct Hosts;

impl Service for Hosts {
    type Client = HostsClient<Channel>;

    fn client(channel: Channel) -> Self::Client {
        // A configuration of thousands of hosts, with room.
        const MAX_REPLY_BYTES: usize = 16 << 20;
        HostsClient::new(channel).max_decoding_message_size(MAX_REPLY_BYTES)
    }
}

/// `Jobs`: ssh_stop_job, ssh_list_jobs.
pub(crate) struct Jobs;

impl Service for Jobs {
    type Client = JobsClient<Channel>;

    fn client(channel: Channel) -> Self::Client {
        JobsClient::new(channel)
    }
}

/// `Files`: ssh_view, ssh_create, ssh_edit. A cancelled call returns at once; the daemon still
/// finishes (or undoes) what it started, so a file is never left half-edited.
pub(crate) struct Files;

impl Service for Files {
    type Client = FilesClient<Channel>;

    fn client(channel: Channel) -> Self::Client {
        // The daemon returns and takes at most 32 MiB of content.
        const MAX_MESSAGE_BYTES: usize = 40 << 20;
        FilesClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }
}

/// `Search`: ssh_grep and ssh_glob, with the general error types (`remote_file_error` for a
/// refused path).
pub(crate) struct Search;

impl Service for Search {
    type Client = SearchClient<Channel>;

    fn client(channel: Channel) -> Self::Client {
        // grep's output cap, as JSON-ready records, and glob's entry limit of paths, with room.
        const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;
        SearchClient::new(channel).max_decoding_message_size(MAX_REPLY_BYTES)
    }
}

/// `Sessions`: the session tools, with the seed's error types for sessions.
pub(crate) struct Sessions;

impl Service for Sessions {
    type Client = SessionsClient<Channel>;

    fn client(channel: Channel) -> Self::Client {
        // A read is bounded by its output buffer (4 MiB by default), a list by the number of
        // sessions; this leaves ample room for both.
        const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;
        SessionsClient::new(channel).max_decoding_message_size(MAX_REPLY_BYTES)
    }

    fn on_status(status: &tonic::Status) -> CallToolResult {
        result::from_session_status(status)
    }
}

/// `Transfers`: ssh_scp and ssh_sync.
pub(crate) struct Transfers;

impl Service for Transfers {
    type Client = TransfersClient<Channel>;

    fn client(channel: Channel) -> Self::Client {
        // Two 1 MiB outputs and checksums.
        const MAX_RESULT_BYTES: usize = 16 * 1024 * 1024;
        TransfersClient::new(channel).max_decoding_message_size(MAX_RESULT_BYTES)
    }
}

/// `Forwards`: the forward tools.
pub(crate) struct Forwards;

impl Service for Forwards {
    type Client = ForwardsClient<Channel>;

    fn client(channel: Channel) -> Self::Client {
        ForwardsClient::new(channel)
    }

    fn on_status(status: &tonic::Status) -> CallToolResult {
        from_forward_status(status)
    }
}

/// The seed's error types for forwards: an unknown id is `forward_not_found`; a port or name
/// clash, or ssh refusing to listen, is `forward_failed`.
fn from_forward_status(status: &tonic::Status) -> CallToolResult {
    use tonic::Code;
    match status.code() {
        Code::NotFound => result::failure("forward_not_found", status.message().to_owned()),
        Code::FailedPrecondition => result::failure("forward_failed", status.message().to_owned()),
        _ => result::from_status(status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_forward_ids_take_the_seeds_error_type() {
        let r = Forwards::on_status(&tonic::Status::not_found("Unknown forward_id 'x'."));
        assert_eq!(
            r.structured_content.unwrap()["error_type"],
            "forward_not_found"
        );
    }
}
