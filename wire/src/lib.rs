//! ssh-mcp-wire: what the shim (`ssh-mcp`) and the daemon (`ssh-mcpd`) need to find and talk to
//! each other, and nothing else. The shim depends on this crate alone, so it links no ssh
//! argument validation or argv builder (`tests/tidy.rs` checks that with `cargo tree`).
//!
//! - [`pb`]: the generated gRPC types of `proto/sshmcp/v1`.
//! - [`protocol`]: the wire protocol number and the compatibility rule.
//! - [`paths`]: where the socket, locks, control sockets and state live, and the owner/mode checks.

pub mod paths;
pub mod pb;
pub mod protocol;
