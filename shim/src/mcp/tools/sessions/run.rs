//! `ssh_run_in_session`: one command in a session's shell, run to completion in one call
//! (`Sessions.Run`). The daemon knows where the command's output starts and ends and its exit
//! code without printing anything into the session, so the answer is the command's output alone.

use rmcp::handler::server::common::schema_for_output;
use rmcp::schemars::{self, JsonSchema};
use rmcp::{tool, tool_router};
use serde::{Deserialize, Serialize};
use ssh_mcp_wire::pb;

use crate::mcp::tools::call::{daemon_tool, mcp_entry};
use crate::mcp::tools::services::Sessions;
use crate::mcp::{result, schema};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::portable)]
pub struct RunArgs {
    pub session_id: String,
    /// Typed into the session's shell; cd and variables persist.
    pub command: Option<String>,
    /// Seconds (default 30, max 300). Past it the command keeps running: call again with continue.
    #[schemars(range(min = 0, max = 300))]
    pub timeout: Option<f64>,
    /// The end is kept. Default 65536; result ≤50000 chars.
    #[schemars(range(min = 1))]
    pub max_output_chars: Option<u64>,
    pub strip_ansi: Option<bool>,
    /// No command: wait again for the run that was still running.
    #[serde(rename = "continue")]
    pub continue_previous: Option<bool>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(transform = schema::portable)]
pub struct RunResult {
    pub session_id: String,
    /// The command's output alone (no prompt or echo), lines ending in \n.
    pub output: String,
    /// Absent while it runs or when it never started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// exit_code is 0.
    pub ok: bool,
    /// The timeout passed first: the command still runs.
    pub still_running: bool,
    /// The shell read the command (false: a program in the foreground holds the terminal).
    pub started: bool,
    /// The command ended the session.
    pub session_ended: bool,
    pub truncated: bool,
    pub output_bytes: u64,
    pub duration_ms: u64,
    pub run_id: u64,
}

impl From<pb::RunInSessionReply> for RunResult {
    fn from(r: pb::RunInSessionReply) -> Self {
        Self {
            session_id: r.snapshot.map(|s| s.session_id).unwrap_or_default(),
            output: crate::mcp::tools::text::lossy(r.output),
            ok: r.exit_code == Some(0) && !r.still_running,
            exit_code: r.exit_code,
            still_running: r.still_running,
            started: r.started,
            session_ended: r.session_ended,
            truncated: r.truncated,
            output_bytes: r.output_bytes,
            duration_ms: r.duration_ms,
            run_id: r.run_id,
        }
    }
}

fn run_request(args: RunArgs) -> pb::RunInSessionRequest {
    pb::RunInSessionRequest {
        session_id: args.session_id,
        command: args.command.unwrap_or_default(),
        timeout_seconds: args.timeout,
        max_output_chars: args.max_output_chars,
        strip_ansi: args.strip_ansi.unwrap_or(false),
        continue_previous: args.continue_previous.unwrap_or(false),
    }
}

daemon_tool! {
    /// `ssh_run_in_session` on the one generic path (`call.rs`).
    SshRunInSession: Sessions::run(RunArgs => pb::RunInSessionRequest) -> pb::RunInSessionReply,
    |args, _caller| run_request(args),
    |reply| result::success(&RunResult::from(reply))
}

mcp_entry! {
    ssh_run_in_session_router: ssh_run_in_session(RunArgs) => call_unary::<SshRunInSession>,
    name = "ssh_run_in_session",
    description = "Run one command in a session's shell and wait for it: its output alone and exit_code. Needs bash, sh, zsh or fish.",
    title = "Run a command in a session",
    output_schema = schema_for_output::<RunResult>(),
    annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_is_the_parameter_name_and_nulls_are_absent() {
        let args: RunArgs = serde_json::from_value(serde_json::json!({
            "session_id": "s1", "command": null, "timeout": null, "continue": true
        }))
        .unwrap();
        let r = run_request(args);
        assert!(r.continue_previous);
        assert!(r.command.is_empty());
        assert_eq!(r.timeout_seconds, None);
        assert!(
            serde_json::from_value::<RunArgs>(serde_json::json!({"session_id": "s", "nope": 1}))
                .is_err()
        );
    }

    #[test]
    fn a_result_without_exit_code_leaves_it_out() {
        let v = serde_json::to_value(RunResult::from(pb::RunInSessionReply {
            still_running: true,
            ..Default::default()
        }))
        .unwrap();
        assert!(v.get("exit_code").is_none());
        assert_eq!(v["ok"], false);
    }
}
