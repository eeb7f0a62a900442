//! [`Caller`]: who made a call, as the daemon can tell — the process at the other end of the
//! socket (from the kernel) and the MCP client it serves (as the shim names it in the
//! `ssh-mcp-client` header). Audit records and approval prompts show it.

use ssh_mcp_core::protocol::{CLIENT_HEADER, TOOL_HEADER};
use tonic::Extensions;
use tonic::metadata::MetadataMap;
use tonic::transport::server::UdsConnectInfo;

/// The longest client name kept; the rest is cut.
const MAX_CLIENT_CHARS: usize = 80;

/// Who made a call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// The process that connected to the daemon's socket (the shim, or a person's `ssh-mcp`).
    pub pid: Option<u32>,
    /// The MCP client as the shim named it; empty when it did not.
    pub client: String,
    /// The MCP tool the call serves, as the shim named it; empty when it did not.
    pub tool: String,
}

impl Caller {
    /// The caller of a request with these headers and connection extensions.
    pub fn of(metadata: &MetadataMap, extensions: &Extensions) -> Self {
        let pid = extensions
            .get::<UdsConnectInfo>()
            .and_then(|info| info.peer_cred)
            .and_then(|cred| cred.pid())
            .and_then(|pid| u32::try_from(pid).ok());
        let client = metadata
            .get(CLIENT_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(clean)
            .unwrap_or_default();
        let tool = metadata
            .get(TOOL_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(clean)
            .unwrap_or_default();
        Self { pid, client, tool }
    }
}

/// A client name fit for a log line: printable characters only, at most [`MAX_CLIENT_CHARS`].
fn clean(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_control())
        .take(MAX_CLIENT_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_header_is_read_and_cleaned() {
        let mut m = MetadataMap::new();
        m.insert(CLIENT_HEADER, "claude-code/2.1".parse().unwrap());
        let c = Caller::of(&m, &Extensions::default());
        assert_eq!(c.client, "claude-code/2.1");
        assert_eq!(c.pid, None);
        let long = "x".repeat(500);
        m.insert(CLIENT_HEADER, long.parse().unwrap());
        assert_eq!(Caller::of(&m, &Extensions::default()).client.len(), 80);
        assert_eq!(
            Caller::of(&MetadataMap::new(), &Extensions::default()),
            Caller::default()
        );
    }
}
