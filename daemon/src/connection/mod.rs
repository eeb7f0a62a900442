//! The connection layer that every capability stands on: the pool of ControlMasters and their
//! leases ([`masters`]), sessions opened over a master's control socket ([`mux_client`]) with
//! their pipes ([`pipes`]), the masters' socket names ([`control_paths`]), the one place a local
//! process starts ([`spawn`]), ending remote process groups ([`killer`]), and what comes back on
//! a channel: bounded output ([`capture`]) and the remote pid report ([`pid_report`]).
//!
//! Nothing here knows a tool: exec, sessions, files, search, transfers and forwards all reach a
//! host through this folder.

pub mod capture;
pub mod control_paths;
pub mod killer;
pub mod masters;
pub mod mux_client;
pub mod pid_report;
pub mod pipes;
pub mod retry;
pub mod sftp;
pub mod spawn;
