//! The session tools (drop-in for the seed's six, plus ssh_run_in_session): ssh_start_session and
//! ssh_ensure_session (`Sessions.Open`), ssh_read_session, ssh_write_session, ssh_stop_session,
//! ssh_list_sessions and ssh_run_in_session, one tool per file. Sessions live in the daemon; every
//! read carries this shim's reader id, so each MCP client follows a session with its own cursor.
//! The seed's defaults are filled here; `session_result.rs` shapes the answers.

use std::io::Read;

use rmcp::model::CallToolResult;
use ssh_mcp_wire::pb::{self, ReadOptions};

use super::session_result::{NoSnapshot, SessionResult};
use crate::mcp::result;

pub(super) mod ensure;
pub(super) mod list;
pub(super) mod open;
pub(super) mod read;
pub(super) mod run;
pub(super) mod start;
pub(super) mod stop;
pub(super) mod write;

/// The seed's defaults (its spec, §6.9-6.12).
const DEFAULT_WAIT_SECONDS: f64 = 1.0;

/// Wording the session tools share (as `connection::doc` does for the connection parameters).
pub(super) mod sdoc {
    pub const WAIT_SECONDS: &str = "Seconds to wait for output (default 1).";
    pub const MAX_OUTPUT_CHARS: &str = "Default 65536; result ≤50000 chars.";
    pub const STRIP_ANSI: &str = "Remove ANSI escapes from output.";
    pub const SCREEN: &str = "Also return the rendered screen.";
    pub const SETTLE_MS: &str = "Return once output was quiet this long (default 75; 0: at once).";
}

/// A random id for this shim process, made once at start-up: the daemon keeps one read cursor
/// per reader id and session, so two MCP clients (two shims) reading one session each see all of
/// its output. 16 hex digits from the kernel's random source.
pub fn new_reader_id() -> String {
    let mut bytes = [0u8; 8];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if random.is_err() {
        // Unique enough among the shims of one user: pid and start time.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        bytes = (nanos ^ (u64::from(std::process::id()) << 40)).to_be_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How one call reads, with the seed's defaults where the agent gave nothing.
fn read_options(
    reader_id: &str,
    wait_seconds: Option<f64>,
    max_output_chars: Option<u64>,
) -> ReadOptions {
    ReadOptions {
        wait_seconds: Some(wait_seconds.unwrap_or(DEFAULT_WAIT_SECONDS)),
        // Absent: the daemon's default, which also keeps the result within what clients show.
        max_output_chars,
        offset: None,
        strip_ansi: false,
        screen: false,
        reader_id: reader_id.to_owned(),
        settle_ms: None,
    }
}

/// The tool result for a session reply.
fn session_result(
    reply: pb::SessionReply,
    shape: fn(pb::SessionReply) -> Result<SessionResult, NoSnapshot>,
) -> CallToolResult {
    match shape(reply) {
        Ok(r) => result::success(&r),
        Err(NoSnapshot) => result::failure(
            "internal_error",
            "the daemon answered without the session's state".into(),
        ),
    }
}

#[cfg(test)]
fn parse<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, serde_json::Error> {
    serde_json::from_value(v)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::mcp::SshMcp;

    #[test]
    fn the_reader_id_is_random_hex_and_stays_with_the_server() {
        let a = new_reader_id();
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, new_reader_id(), "each shim process gets its own");
        let link = std::sync::Arc::new(crate::daemon_link::DaemonLink::from_env());
        let server = SshMcp::new(link);
        let id = server.reader_id.clone();
        assert_eq!(id.len(), 16);
        assert_eq!(
            server.clone().reader_id,
            id,
            "one id for the life of the server"
        );
        let r = read::read_request(
            parse(json!({"session_id": "s"})).unwrap(),
            &server.reader_id,
        );
        assert_eq!(r.read.unwrap().reader_id, *id);
    }
}
