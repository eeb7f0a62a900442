//! `ssh_stop_session`: a session ended (hang-up, then a signal to what is left) with its last
//! output and exit status (`Sessions.Stop`).

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

/// The seed's default wait for the exit.
const DEFAULT_STOP_WAIT_SECONDS: f64 = 2.0;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::portable)]
pub struct StopArgs {
    pub session_id: String,
    /// SIGKILL instead of SIGTERM.
    pub force: Option<bool>,
    /// Seconds to wait for the exit (default 2).
    #[schemars(range(min = 0))]
    pub wait_seconds: Option<f64>,
    #[schemars(description = sdoc::MAX_OUTPUT_CHARS, range(min = 1))]
    pub max_output_chars: Option<u64>,
}

fn stop_request(args: StopArgs, reader_id: &str) -> pb::StopSessionRequest {
    pb::StopSessionRequest {
        session_id: args.session_id,
        force: args.force.unwrap_or(false),
        wait_seconds: Some(args.wait_seconds.unwrap_or(DEFAULT_STOP_WAIT_SECONDS)),
        // The final read takes what the session left: how long to wait for it is the daemon's
        // call (the seed waits at most 0.25 s once the process is gone).
        read: Some(ReadOptions {
            wait_seconds: None,
            ..read_options(reader_id, None, args.max_output_chars)
        }),
    }
}

daemon_tool! {
    /// `ssh_stop_session` on the one generic path (`call.rs`).
    SshStopSession: Sessions::stop(StopArgs => pb::StopSessionRequest) -> pb::SessionReply,
    |args, caller| stop_request(args, caller.reader_id),
    |reply| session_result(reply, SessionResult::of)
}

mcp_entry! {
    ssh_stop_session_router: ssh_stop_session(StopArgs) => call_unary::<SshStopSession>,
    name = "ssh_stop_session",
    description = "End a session: hang up its shell, then SIGTERM (SIGKILL with force) to what is left. Returns the last output and exit status; it stays listed, its transcript on disk.",
    title = "Stop a session",
    output_schema = schema_for_output::<SessionResult>(),
    annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::mcp::tools::sessions::parse;

    #[test]
    fn a_stop_carries_the_reader_and_leaves_the_final_wait_to_the_daemon() {
        let s = stop_request(
            parse(json!({"session_id": "s", "force": true})).unwrap(),
            "me",
        );
        assert!(s.force);
        let read = s.read.unwrap();
        assert_eq!(
            read.wait_seconds, None,
            "the final read's wait is the daemon's"
        );
        // The size is the daemon's default too (it keeps the result within what clients show).
        assert_eq!(
            (read.max_output_chars, read.reader_id.as_str()),
            (None, "me")
        );
    }

    #[test]
    fn a_null_for_an_optional_parameter_means_absent() {
        let r = stop_request(
            parse(
                json!({"session_id": "s", "force": null, "wait_seconds": null,
                         "max_output_chars": null}),
            )
            .unwrap(),
            "r",
        );
        assert_eq!((r.force, r.wait_seconds), (false, Some(2.0)));
    }

    #[test]
    fn an_unknown_parameter_is_refused() {
        assert!(parse::<StopArgs>(json!({"session_id": "s", "signal": 9})).is_err());
    }
}
