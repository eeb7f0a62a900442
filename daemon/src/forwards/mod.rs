//! Port forwards owned by the daemon: local, remote and dynamic (SOCKS) forwards kept by the
//! pool's ControlMasters through the mux protocol, so they outlive the client that opened them.
//!
//! - `control.rs`: one forward on a master (OPEN_FWD, CLOSE_FWD, and the end of the master).
//! - `forward.rs`: opening (checks, the lease, the watch task) and stopping.
//! - `registry.rs`: every forward by id; names, port clashes, pruning of ended ones.

pub mod control;
pub mod forward;
pub mod registry;
