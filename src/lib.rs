//! ssh-mcp-core: what the daemon (`ssh-mcpd`) and the shim (`ssh-mcp`) share, and nothing that
//! holds state.
//!
//! - [`pb`]: the generated gRPC types of `proto/sshmcp/v1`.
//! - [`protocol`]: the wire protocol number and the compatibility rule.
//! - [`paths`]: where the socket, locks, control sockets and state live, and the owner/mode checks.
//! - [`ssh`]: agent input → validated types → the one argv builder for ssh.
//! - `fuzzing` (feature `fuzzing`, and in tests): what the fuzz targets of `fuzz/` call.

pub mod paths;
pub mod pb;
pub mod protocol;
pub mod ssh;

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
