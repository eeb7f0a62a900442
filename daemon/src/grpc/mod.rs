//! The gRPC surface: one thin service per proto service. Each handler turns wire types into the
//! domain types of the daemon, calls the domain code, and turns the answer back; nothing else.

mod control;
mod exec;
mod files;
mod forwards;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod hosts;
mod outputs;
mod progress_stream;
mod search;
mod sessions;
pub mod status;
mod transfers;

use ssh_mcp_core::pb;
use ssh_mcp_core::pb::control_server::ControlServer;
use ssh_mcp_core::pb::exec_server::ExecServer;
use ssh_mcp_core::pb::files_server::FilesServer;
use ssh_mcp_core::pb::forwards_server::ForwardsServer;
use ssh_mcp_core::pb::hosts_server::HostsServer;
use ssh_mcp_core::pb::jobs_server::JobsServer;
use ssh_mcp_core::pb::outputs_server::OutputsServer;
use ssh_mcp_core::pb::search_server::SearchServer;
use ssh_mcp_core::pb::sessions_server::SessionsServer;
use ssh_mcp_core::pb::transfers_server::TransfersServer;
use ssh_mcp_core::ssh::options::connection::RawConnection;
use tonic::transport::server::Router;

use crate::door::RawCommon;

use crate::state::Daemon;

/// The largest request a service decodes. Anything the shim forwards fits: an MCP message is at
/// most 16 MiB of JSON, and its protobuf is no larger. Past tonic's default of 4 MiB, a request
/// that is too large for its tool (a 10 MB `command`) reaches the tool's own validation, whose
/// error names the field and its limit, instead of failing as an undecodable message.
const MAX_REQUEST_BYTES: usize = 17 << 20;

/// The common fields of a call on a host as the wire carries them: the `Connection` (with the
/// caller's agent socket) and the tool's timeout. The door validates them (`door::Common`).
fn raw_common(c: Option<pb::Connection>, timeout_seconds: Option<f64>) -> RawCommon {
    let c = c.unwrap_or_default();
    RawCommon {
        connection: RawConnection {
            target: c.target,
            port: c.port,
            identity_file: c.identity_file,
            known_hosts_file: c.known_hosts_file,
            strict_host_key_checking: c.strict_host_key_checking,
            extra_ssh_args: c.extra_ssh_args,
        },
        ssh_auth_sock: c.ssh_auth_sock,
        timeout_seconds,
    }
}

/// The HTTP/2 flow-control window for requests (see `router`).
const REQUEST_WINDOW_BYTES: u32 = 4 << 20;

/// The router with every service, ready to serve on the daemon's listener.
pub fn router(daemon: Daemon) -> Router {
    tonic::transport::Server::builder()
        // HTTP/2's default 64 KiB windows make a large request (an `ssh_create` of megabytes) wait
        // for a window update per 64 KiB; requests are bounded by the decoding limits below.
        .initial_stream_window_size(REQUEST_WINDOW_BYTES)
        .initial_connection_window_size(REQUEST_WINDOW_BYTES)
        .add_service(ControlServer::new(control::ControlService::new(
            daemon.clone(),
        )))
        .add_service(
            ExecServer::new(exec::ExecService::new(daemon.clone()))
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            FilesServer::new(files::FilesService::new(daemon.clone()))
                .max_decoding_message_size(files::MAX_MESSAGE_BYTES),
        )
        .add_service(
            SessionsServer::new(sessions::SessionsService::new(daemon.clone()))
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            TransfersServer::new(transfers::TransfersService::new(daemon.clone()))
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            ForwardsServer::new(forwards::ForwardsService::new(daemon.clone()))
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            SearchServer::new(search::SearchService::new(daemon.clone()))
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(OutputsServer::new(outputs::OutputsService::new(
            daemon.clone(),
        )))
        .add_service(JobsServer::new(outputs::JobsService::new(daemon.clone())))
        .add_service(HostsServer::new(hosts::HostsService::new(daemon)))
}
