//! Tool results: success as structuredContent plus the same JSON as text; failure as
//! `isError: true` with the message as text and `{ok: false, error_type, message}` as
//! structuredContent (the seed's shape). The one place that reads a gRPC status's code.

use rmcp::model::{CallToolResult, ContentBlock};
use serde::Serialize;
use serde_json::{Value, json};

use crate::daemon_link::LinkError;
use crate::json_text;

/// A successful result whose structured content is `value`.
pub fn success(value: &impl Serialize) -> CallToolResult {
    match serde_json::to_value(value) {
        Ok(v) => structured(v),
        Err(e) => failure(
            "internal_error",
            format!("could not encode the result: {e}"),
        ),
    }
}

/// Structured content `value` and its JSON as text: rmcp's `CallToolResult::structured`, with
/// the text written by [`json_text`] (pages of output are megabytes).
pub fn structured(value: Value) -> CallToolResult {
    let mut result =
        CallToolResult::success(vec![ContentBlock::text(json_text::to_string(&value))]);
    result.structured_content = Some(value);
    result
}

/// An in-band tool error the agent can read and act on.
pub fn failure(error_type: &str, message: String) -> CallToolResult {
    let mut result = CallToolResult::error(vec![ContentBlock::text(message.clone())]);
    result.structured_content =
        Some(json!({ "ok": false, "error_type": error_type, "message": message }));
    result
}

/// The daemon could not be reached.
pub fn unreachable(e: &LinkError) -> CallToolResult {
    failure("daemon_unavailable", e.to_string())
}

/// The daemon stopped (crashed or was killed) while a call was running: its result is lost.
pub fn daemon_stopped() -> CallToolResult {
    failure(
        "daemon_stopped",
        "the ssh-mcp daemon stopped during the call, so its result is lost, and the command may \
         still be running on the host. The next call starts a new daemon; check the host's state \
         before running the command again."
            .into(),
    )
}

/// The daemon answered with an error status.
pub fn from_status(status: &tonic::Status) -> CallToolResult {
    use tonic::Code;
    if status.code() == Code::Unimplemented {
        // A daemon of the same protocol built without this service (a development build).
        return failure(
            "daemon_outdated",
            "the running ssh-mcp daemon does not serve this tool; stop it with `ssh-mcp daemon \
             stop` so that the next call starts the installed one"
                .into(),
        );
    }
    failure(
        ssh_mcp_wire::protocol::error_type(status.code()),
        status.message().to_owned(),
    )
}

/// The daemon answered a session tool with an error status: the seed's error types for the
/// session cases (an unknown session_id; a name taken, several matches, a session that has
/// exited), the general mapping for the rest.
pub fn from_session_status(status: &tonic::Status) -> CallToolResult {
    use tonic::Code;
    match status.code() {
        Code::NotFound => failure("session_not_found", status.message().to_owned()),
        Code::FailedPrecondition => failure("validation_error", status.message().to_owned()),
        _ => from_status(status),
    }
}

#[cfg(test)]
mod tests {
    use tonic::Status;

    use super::*;

    fn error_type(result: CallToolResult) -> String {
        assert_eq!(result.is_error, Some(true));
        result.structured_content.unwrap()["error_type"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn session_errors_take_the_seeds_types() {
        let unknown = Status::not_found("Unknown session_id 'x'.");
        assert_eq!(
            error_type(from_session_status(&unknown)),
            "session_not_found"
        );
        let taken = Status::failed_precondition("A running session named 'a' already exists");
        assert_eq!(error_type(from_session_status(&taken)), "validation_error");
        let bad = Status::invalid_argument("wait_seconds must be >= 0");
        assert_eq!(error_type(from_session_status(&bad)), "validation_error");
        assert_eq!(error_type(from_status(&unknown)), "not_found");
    }

    #[test]
    fn a_refused_file_operation_is_a_remote_file_error() {
        let missing = Status::aborted("Remote path does not exist: x");
        assert_eq!(error_type(from_status(&missing)), "remote_file_error");
    }

    #[test]
    fn a_reached_limit_is_named_as_such() {
        let full = Status::resource_exhausted("'h' already has 100 sessions and 0 forwards open");
        assert_eq!(error_type(from_session_status(&full)), "limit_reached");
    }

    #[test]
    fn a_daemon_without_the_service_is_named_with_the_fix() {
        let r = from_status(&Status::unimplemented(""));
        let text = r.structured_content.as_ref().unwrap()["message"].to_string();
        assert!(text.contains("ssh-mcp daemon stop"), "{text}");
        assert_eq!(error_type(r), "daemon_outdated");
    }
}
