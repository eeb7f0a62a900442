//! `ssh_read_session`: the output of a session since this client's last read (`Sessions.Read`).

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
pub struct ReadArgs {
    pub session_id: String,
    #[schemars(description = sdoc::WAIT_SECONDS, range(min = 0))]
    pub wait_seconds: Option<f64>,
    #[schemars(description = sdoc::MAX_OUTPUT_CHARS, range(min = 1))]
    pub max_output_chars: Option<u64>,
    /// Re-read from this byte offset (see output_offset).
    pub offset: Option<u64>,
    #[schemars(description = sdoc::STRIP_ANSI)]
    pub strip_ansi: Option<bool>,
    #[schemars(description = sdoc::SCREEN)]
    pub screen: Option<bool>,
    #[schemars(description = sdoc::SETTLE_MS, range(max = 10000))]
    pub settle_ms: Option<u32>,
}

pub(super) fn read_request(args: ReadArgs, reader_id: &str) -> pb::ReadSessionRequest {
    pb::ReadSessionRequest {
        session_id: args.session_id,
        read: Some(ReadOptions {
            offset: args.offset,
            strip_ansi: args.strip_ansi.unwrap_or(false),
            screen: args.screen.unwrap_or(false),
            settle_ms: args.settle_ms,
            ..read_options(reader_id, args.wait_seconds, args.max_output_chars)
        }),
    }
}

daemon_tool! {
    /// `ssh_read_session` on the one generic path (`call.rs`).
    SshReadSession: Sessions::read(ReadArgs => pb::ReadSessionRequest) -> pb::SessionReply,
    |args, caller| read_request(args, caller.reader_id),
    |reply| session_result(reply, SessionResult::of)
}

mcp_entry! {
    ssh_read_session_router: ssh_read_session(ReadArgs) => call_unary::<SshReadSession>,
    name = "ssh_read_session",
    description = "Output since this client's last read (each client has its own cursor). truncated: more is waiting. dropped_bytes: output lost before it was read. running: the shell is alive.",
    title = "Read session output",
    output_schema = schema_for_output::<SessionResult>(),
    annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = false, open_world_hint = true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::mcp::tools::sessions::parse;

    #[test]
    fn a_read_carries_the_reader_and_the_extras() {
        let r = read_request(
            parse(
                json!({"session_id": "s", "wait_seconds": 2.5, "max_output_chars": 7,
                         "offset": 0, "strip_ansi": true, "screen": true}),
            )
            .unwrap(),
            "me",
        );
        assert_eq!(r.session_id, "s");
        let read = r.read.unwrap();
        assert_eq!(
            (read.wait_seconds, read.max_output_chars),
            (Some(2.5), Some(7))
        );
        assert_eq!(read.offset, Some(0), "offset 0 re-reads from the start");
        assert!(read.strip_ansi && read.screen);
        assert_eq!(read.reader_id, "me");
    }

    #[test]
    fn a_null_for_an_optional_parameter_means_absent() {
        let r = read_request(
            parse(
                json!({"session_id": "s", "wait_seconds": null, "max_output_chars": null,
                         "offset": null, "strip_ansi": null, "screen": null}),
            )
            .unwrap(),
            "r",
        );
        assert_eq!(r.read.unwrap().offset, None);
    }

    #[test]
    fn an_unknown_parameter_is_refused() {
        assert!(parse::<ReadArgs>(json!({"session_id": "s", "wait": 1})).is_err());
    }
}
