//! `ssh_write_session`: input typed into a session, then the output that follows
//! (`Sessions.Write`).

use rmcp::handler::server::common::schema_for_output;
use rmcp::schemars::{self, JsonSchema};
use rmcp::{tool, tool_router};
use serde::Deserialize;
use ssh_mcp_wire::pb::{self, ReadOptions};

use super::{read_options, sdoc, session_result};
use crate::mcp::schema;
use crate::mcp::tools::call::{daemon_tool, mcp_entry};
use crate::mcp::tools::services::Sessions;
use crate::mcp::tools::session_result::SessionResult;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::portable)]
pub struct WriteArgs {
    pub session_id: String,
    /// Sent as is: \n is Enter, \u0003 Ctrl-C, \u0004 Ctrl-D.
    pub input: String,
    #[schemars(description = sdoc::WAIT_SECONDS, range(min = 0))]
    pub wait_seconds: Option<f64>,
    #[schemars(description = sdoc::MAX_OUTPUT_CHARS, range(min = 1))]
    pub max_output_chars: Option<u64>,
    #[schemars(description = sdoc::STRIP_ANSI)]
    pub strip_ansi: Option<bool>,
    #[schemars(description = sdoc::SCREEN)]
    pub screen: Option<bool>,
    #[schemars(description = sdoc::SETTLE_MS, range(max = 10000))]
    pub settle_ms: Option<u32>,
    /// Resize the terminal first.
    pub rows: Option<u32>,
    pub cols: Option<u32>,
}

fn write_request(args: WriteArgs, reader_id: &str) -> pb::WriteSessionRequest {
    pb::WriteSessionRequest {
        session_id: args.session_id,
        input: args.input.into_bytes(),
        read: Some(ReadOptions {
            strip_ansi: args.strip_ansi.unwrap_or(false),
            screen: args.screen.unwrap_or(false),
            settle_ms: args.settle_ms,
            ..read_options(reader_id, args.wait_seconds, args.max_output_chars)
        }),
        rows: args.rows.unwrap_or(0),
        cols: args.cols.unwrap_or(0),
    }
}

daemon_tool! {
    /// `ssh_write_session` on the one generic path (`call.rs`).
    SshWriteSession: Sessions::write(WriteArgs => pb::WriteSessionRequest) -> pb::SessionReply,
    |args, caller| write_request(args, caller.reader_id),
    |reply| session_result(reply, SessionResult::of)
}

mcp_entry! {
    ssh_write_session_router: ssh_write_session(WriteArgs) => call_unary::<SshWriteSession>,
    name = "ssh_write_session",
    description = "Type into a session (end commands with \\n), then return the output that follows.",
    title = "Write to a session",
    output_schema = schema_for_output::<SessionResult>(),
    annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::mcp::tools::sessions::parse;

    #[test]
    fn a_write_carries_the_reader_and_the_extras() {
        let w = write_request(
            parse(json!({"session_id": "s", "input": ""})).unwrap(),
            "me",
        );
        assert!(w.input.is_empty(), "empty input is allowed");
        assert_eq!(
            (w.rows, w.cols),
            (0, 0),
            "0 leaves the terminal size as it is"
        );
        let read = w.read.unwrap();
        assert_eq!(
            (read.wait_seconds, read.reader_id.as_str()),
            (Some(1.0), "me")
        );
        let w = write_request(
            parse(json!({"session_id": "s", "input": "é\u{3}", "rows": 24, "cols": 80})).unwrap(),
            "me",
        );
        assert_eq!(w.input, "é\u{3}".as_bytes());
        assert_eq!((w.rows, w.cols), (24, 80));
    }

    #[test]
    fn input_is_required() {
        assert!(
            parse::<WriteArgs>(json!({"session_id": "s"})).is_err(),
            "input is required"
        );
    }
}
