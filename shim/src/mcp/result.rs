//! Tool results: success as structuredContent plus the same JSON as text; failure as
//! `isError: true` with the message as text and `{ok: false, error_type, message}` as
//! structuredContent (the seed's shape). The one place that reads a gRPC status's code.

use rmcp::model::{CallToolResult, ContentBlock};
use serde::Serialize;
use serde_json::json;

use crate::daemon_link::LinkError;

/// A successful result whose structured content is `value`.
pub fn success(value: &impl Serialize) -> CallToolResult {
    match serde_json::to_value(value) {
        Ok(v) => CallToolResult::structured(v),
        Err(e) => failure(
            "internal_error",
            format!("could not encode the result: {e}"),
        ),
    }
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
    let error_type = match status.code() {
        Code::InvalidArgument => "validation_error",
        Code::Unavailable => "connection_error",
        Code::FailedPrecondition => "configuration_error",
        Code::Cancelled => "cancelled",
        Code::NotFound => "not_found",
        _ => "internal_error",
    };
    failure(error_type, status.message().to_owned())
}
