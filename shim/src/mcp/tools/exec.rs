//! `ssh_exec`: one remote command (drop-in for the seed's tool, plus output caps, progress and
//! cancellation). Arguments become a `RunRequest` (`Exec.Run`); the daemon's event stream becomes
//! progress notifications and, at the end, the result.

use std::collections::BTreeMap;

use rmcp::handler::server::common::schema_for_output;
use rmcp::schemars::{self, JsonSchema};
use rmcp::{tool, tool_router};
use serde::{Deserialize, Serialize};
use ssh_mcp_wire::pb::{self, RunRequest, run_event::Event};

use super::call::{Step, Streamed, daemon_tool, mcp_entry};
use super::connection::remote_args;
use super::services::Exec;
use super::text::text_and_exact;
use crate::mcp::{result, schema};

/// How often the daemon reports progress when the client asked for it.
const PROGRESS_INTERVAL_MS: u32 = 1000;

// Descriptions are what the model reads in every conversation: they say what an agent needs
// and no more (the tools/list budget test in tests/mcp holds them to it). The connection
// parameters' wording is shared, in `connection::doc`.
remote_args! {
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::portable)]
pub struct ExecArgs {
    /// Shell command line.
    pub command: String,
    /// Remote directory (~ is home).
    pub cwd: Option<String>,
    /// Variables to export.
    pub env: Option<BTreeMap<String, String>>,
    /// Shell for cwd/env (default sh).
    pub shell: Option<String>,
    /// Seconds; default none.
    pub timeout: Option<f64>,
    /// ssh -tt (merges stderr into stdout).
    pub tty: Option<bool>,
    /// Bytes kept per stream (default 1 MiB).
    #[schemars(range(min = 64, max = 67108864))]
    pub max_output_bytes: Option<u64>,
}
}

/// Optional fields are absent rather than null (see `schema.rs`).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(transform = schema::portable)]
pub struct ExecResult {
    /// The remote command's exit status; absent when it was stopped by a signal or never ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The signal that ended the command (15 or 9 when a timeout stopped it); else absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Standard output as UTF-8 (invalid sequences replaced; see stdout_base64).
    pub stdout: String,
    /// Standard error as UTF-8 (invalid sequences replaced; see stderr_base64).
    pub stderr: String,
    pub timed_out: bool,
    pub duration_ms: u64,
    /// exit_code is 0 and the command did not time out.
    pub ok: bool,
    pub target: String,
    pub command: String,
    /// Part of stdout was left out to respect max_output_bytes.
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    /// Total bytes the command wrote to stdout, kept or not.
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    /// The exact stdout bytes, base64-encoded, present only when they are not valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout_base64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr_base64: Option<String>,
    /// The command used an ssh connection that was already open.
    pub reused_connection: bool,
}

impl From<pb::Finished> for ExecResult {
    fn from(f: pb::Finished) -> Self {
        let (stdout, stdout_base64) = text_and_exact(f.stdout);
        let (stderr, stderr_base64) = text_and_exact(f.stderr);
        Self {
            ok: f.exit_code == Some(0) && !f.timed_out,
            exit_code: f.exit_code,
            signal: f.signal,
            stdout,
            stderr,
            timed_out: f.timed_out,
            duration_ms: f.duration_ms,
            target: f.target,
            command: f.command,
            stdout_truncated: f.stdout_truncated,
            stderr_truncated: f.stderr_truncated,
            stdout_bytes: f.stdout_bytes,
            stderr_bytes: f.stderr_bytes,
            stdout_base64,
            stderr_base64,
            reused_connection: f.reused_connection,
        }
    }
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// `env` as the wire's variables, in name order; the session tools' `env` goes the same way.
pub(super) fn env_vars(env: Option<BTreeMap<String, String>>) -> Vec<pb::EnvVar> {
    env.unwrap_or_default()
        .into_iter()
        .map(|(name, value)| pb::EnvVar { name, value })
        .collect()
}

/// The daemon's request for these arguments (progress events only when the client wants them).
fn run_request(args: ExecArgs, progress: bool) -> RunRequest {
    RunRequest {
        connection: Some(args.connection()),
        command: args.command,
        cwd: args.cwd,
        env: env_vars(args.env),
        shell: args.shell,
        timeout_seconds: args.timeout,
        tty: args.tty.unwrap_or(false),
        max_output_bytes: args.max_output_bytes.unwrap_or(0),
        progress_interval_ms: if progress { PROGRESS_INTERVAL_MS } else { 0 },
    }
}

daemon_tool! {
    /// `ssh_exec` on the one generic path (`call.rs`).
    SshExec: Exec::run(ExecArgs => RunRequest) -> tonic::Streaming<pb::RunEvent>,
    |args, caller| run_request(args, caller.progress)
}

impl Streamed for SshExec {
    type Event = pb::RunEvent;

    const WHAT: &'static str = "the remote command";

    fn step(request: &RunRequest, event: pb::RunEvent) -> Step {
        match event.event {
            Some(Event::Progress(p)) => Step::Progress {
                progress: p.elapsed_ms as f64 / 1000.0,
                total: request.timeout_seconds,
                message: format!(
                    "{} {:.0}s, stdout {}, stderr {}",
                    p.phase,
                    p.elapsed_ms as f64 / 1000.0,
                    human_bytes(p.stdout_bytes),
                    human_bytes(p.stderr_bytes)
                ),
            },
            Some(Event::Finished(f)) => Step::Done(result::success(&ExecResult::from(f))),
            None => Step::Nothing,
        }
    }
}

// One non-interactive remote command; `timeout` and cancellation end it.
mcp_entry! {
    ssh_exec_router: ssh_exec(ExecArgs) => call_streamed::<SshExec>,
    name = "ssh_exec",
    description = "Run a non-interactive remote command. Give a timeout to anything that may hang: expiry or cancellation ends it.",
    title = "Run a remote command",
    output_schema = schema_for_output::<ExecResult>(),
    annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn args(v: serde_json::Value) -> Result<ExecArgs, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn only_target_and_command_are_needed() {
        let r = run_request(
            args(json!({"target": "h", "command": "true"})).unwrap(),
            false,
        );
        assert_eq!(r.command, "true");
        assert_eq!(r.connection.map(|c| c.target).as_deref(), Some("h"));
        assert_eq!((r.cwd, r.shell, r.timeout_seconds), (None, None, None));
        assert!(r.env.is_empty() && !r.tty);
        assert_eq!((r.max_output_bytes, r.progress_interval_ms), (0, 0));
    }

    #[test]
    fn a_null_for_an_optional_parameter_means_absent() {
        let a = args(json!({
            "target": "h", "command": "c", "cwd": null, "env": null, "shell": null,
            "timeout": null, "tty": null, "port": null, "identity_file": null,
            "known_hosts_file": null, "strict_host_key_checking": null, "extra_ssh_args": null,
            "max_output_bytes": null
        }))
        .unwrap();
        let r = run_request(a, false);
        assert_eq!((r.cwd, r.timeout_seconds, r.tty), (None, None, false));
        let c = r.connection.unwrap();
        assert_eq!((c.port, c.strict_host_key_checking), (None, None));
    }

    #[test]
    fn an_unknown_parameter_is_refused() {
        let e = args(json!({"target": "h", "command": "c", "timeot": 5})).unwrap_err();
        assert!(e.to_string().contains("unknown field `timeot`"), "{e}");
        assert!(args(json!({"command": "c"})).is_err(), "target is required");
    }

    #[test]
    fn every_parameter_reaches_the_request() {
        let a = args(json!({
            "target": "u@h", "command": "ls", "cwd": "~/src", "shell": "bash",
            "env": {"B": "2", "A": "1 2"}, "timeout": 1.5, "tty": true, "port": 2222,
            "strict_host_key_checking": false, "extra_ssh_args": ["-o", "ConnectTimeout=5"],
            "max_output_bytes": 4096
        }))
        .unwrap();
        let r = run_request(a, true);
        assert_eq!(r.cwd.as_deref(), Some("~/src"));
        assert_eq!(r.shell.as_deref(), Some("bash"));
        let env: Vec<(&str, &str)> = r.env.iter().map(|e| (&*e.name, &*e.value)).collect();
        assert_eq!(env, [("A", "1 2"), ("B", "2")]);
        assert_eq!(r.timeout_seconds, Some(1.5));
        assert!(r.tty);
        assert_eq!(r.max_output_bytes, 4096);
        assert_eq!(r.progress_interval_ms, PROGRESS_INTERVAL_MS);
        let c = r.connection.unwrap();
        assert_eq!(c.port, Some(2222));
        assert_eq!(c.strict_host_key_checking.as_deref(), Some("no"));
        assert_eq!(c.extra_ssh_args, ["-o", "ConnectTimeout=5"]);
    }

    #[test]
    fn absent_results_are_left_out_not_null() {
        let finished = pb::Finished {
            exit_code: None,
            signal: Some(15),
            stdout: b"ok".to_vec(),
            stderr: vec![0xff],
            timed_out: true,
            ..Default::default()
        };
        let v = serde_json::to_value(ExecResult::from(finished)).unwrap();
        assert!(v.get("exit_code").is_none(), "{v}");
        assert_eq!(v["signal"], 15);
        assert!(v.get("stdout_base64").is_none(), "{v}");
        assert_eq!(v["stderr_base64"], "/w==");
        assert_eq!(v["ok"], false);
    }
}
