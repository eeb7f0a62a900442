//! The connection layer that every capability stands on: the pool of ControlMasters and their
//! leases ([`masters`]), sessions opened over a master's control socket ([`mux_client`]) with
//! their pipes ([`pipes`]), the masters' socket names ([`control_paths`]), the one place a local
//! process starts ([`spawn`]), ending remote process groups ([`killer`]), the one loop that
//! retries a refused channel on another ([`retry`]), SFTP sessions on a master ([`sftp`]), and
//! what comes back on a channel: bounded output ([`capture`]) and the remote pid report
//! ([`pid_report`]).
//!
//! Nothing here knows a tool or the daemon's state: exec, sessions, files, search, transfers and
//! forwards all reach a host through this folder and hand it the pool (`tests/tidy.rs` checks
//! that no file here uses `crate::state` or a capability).

pub mod capture;
pub mod control_paths;
pub mod join_all;
pub mod killer;
pub mod masters;
pub mod mux_client;
pub mod pid_report;
pub mod pipes;
pub mod retry;
pub mod sftp;
pub mod spawn;
