//! The gRPC surface: one thin service per proto service. Each handler turns wire types into the
//! domain types of the daemon, calls the domain code, and turns the answer back; nothing else.

mod control;
mod exec;
mod sessions;
pub mod status;

use ssh_mcp_core::pb::control_server::ControlServer;
use ssh_mcp_core::pb::exec_server::ExecServer;
use ssh_mcp_core::pb::sessions_server::SessionsServer;
use tonic::transport::server::Router;

use crate::state::Daemon;

/// The router with every service, ready to serve on the daemon's listener.
pub fn router(daemon: Daemon) -> Router {
    tonic::transport::Server::builder()
        .add_service(ControlServer::new(control::ControlService::new(
            daemon.clone(),
        )))
        .add_service(ExecServer::new(exec::ExecService::new(daemon.clone())))
        .add_service(SessionsServer::new(sessions::SessionsService::new(daemon)))
}
