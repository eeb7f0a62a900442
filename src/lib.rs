//! ssh-mcp-core: the stateless half of the daemon (`ssh-mcpd`): agent input checked and turned
//! into ssh command lines and mux requests, pure functions that hold no state.
//!
//! - [`pb`], [`protocol`], [`paths`]: the wire crate (`ssh-mcp-wire`, `wire/`), re-exported so
//!   that the daemon reaches everything it shares through this one crate. The shim depends on the
//!   wire crate alone.
//! - [`ssh`]: agent input → validated types → the one argv builder for ssh.
//! - `fuzzing` (feature `fuzzing`, and in tests): what the fuzz targets of `fuzz/` call.

pub mod ssh;

pub use ssh_mcp_wire::{paths, pb, protocol};

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
