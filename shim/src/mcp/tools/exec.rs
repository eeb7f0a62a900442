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
use crate::mcp::{budget, result, schema};

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
    /// Seconds.
    pub timeout: Option<f64>,
    /// Use a pty (merges stderr).
    pub tty: Option<bool>,
    /// Bytes kept per stream.
    pub max_output_bytes: Option<u64>,
    /// Result size cap in chars.
    pub max_result_chars: Option<u32>,
    /// Detach; returns job_id.
    pub background: Option<bool>,
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
    /// Standard output as UTF-8. When it does not fit the result, its beginning and end around
    /// a marker line naming the bytes left out; when it is not UTF-8, empty (or a note) and the
    /// bytes are in stdout_base64.
    pub stdout: String,
    /// Standard error, as stdout.
    pub stderr: String,
    pub timed_out: bool,
    pub duration_ms: u64,
    /// exit_code is 0 and the command did not time out.
    pub ok: bool,
    pub target: String,
    pub command: String,
    /// Part of stdout was left out of this result (see output_id).
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    /// Total bytes the command wrote to stdout, kept or not.
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    /// The stdout bytes, base64-encoded, present only when they are not valid UTF-8 (the first
    /// ones when they do not fit the result).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout_base64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr_base64: Option<String>,
    /// The command used an ssh connection that was already open.
    pub reused_connection: bool,
    /// Where the whole output is kept when the result shows part of it: ssh_read_output pages it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_id: Option<String>,
    /// Why the kept output stops short of what the command wrote (max_output_bytes, the outputs
    /// quota, a full disk), when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_note: Option<String>,
    /// A background job's id: ssh_read_output reads its output (with wait_seconds), ssh_stop_job
    /// ends it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
}

impl ExecResult {
    /// The result for `f`, its streams fitted so that its text stays within `budget` characters
    /// (see `budget`).
    pub fn fitted(mut f: pb::Finished, budget: u32) -> Self {
        let streams = budget::streams_of(&mut f);
        let mut result = Self {
            ok: f.exit_code == Some(0) && !f.timed_out,
            exit_code: f.exit_code,
            signal: f.signal,
            stdout: String::new(),
            stderr: String::new(),
            timed_out: f.timed_out,
            duration_ms: f.duration_ms,
            target: f.target,
            command: f.command,
            stdout_truncated: false,
            stderr_truncated: false,
            stdout_bytes: f.stdout_bytes,
            stderr_bytes: f.stderr_bytes,
            stdout_base64: None,
            stderr_base64: None,
            reused_connection: f.reused_connection,
            output_id: (!f.output_id.is_empty()).then_some(f.output_id),
            output_note: (!f.output_note.is_empty()).then_some(f.output_note),
            job_id: None,
        };
        if !f.job_id.is_empty() {
            // A job has just started: its output is read by its id, as an output's.
            result.output_id = Some(f.job_id.clone());
            result.job_id = Some(f.job_id);
            result.ok = true;
            return result;
        }
        let overhead = budget::text_chars(&serde_json::to_string(&result).unwrap_or_default());
        let mut room = (budget as usize).saturating_sub(overhead);
        // The fit counts exactly; the loop only guards against a miscount.
        for _ in 0..4 {
            let at = budget::Where {
                output_id: result.output_id.as_deref(),
            };
            let [out, err] = budget::fit([&streams[0], &streams[1]], room, at);
            result.stdout = out.text;
            result.stdout_base64 = out.base64;
            result.stdout_truncated = out.truncated;
            result.stderr = err.text;
            result.stderr_base64 = err.base64;
            result.stderr_truncated = err.truncated;
            let chars = budget::text_chars(&serde_json::to_string(&result).unwrap_or_default());
            if chars <= budget as usize {
                break;
            }
            room = room.saturating_sub(chars - budget as usize + 16);
        }
        // The id is for reading what the result left out; a result holding everything needs none.
        if !result.stdout_truncated && !result.stderr_truncated {
            result.output_id = None;
        }
        result
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
        result_chars: args.max_result_chars.unwrap_or(0),
        background: args.background.unwrap_or(false),
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
            Some(Event::Finished(f)) => {
                let budget = match request.result_chars {
                    0 => budget::DEFAULT_RESULT_CHARS,
                    n => n,
                };
                Step::Done(result::success(&ExecResult::fitted(f, budget)))
            }
            None => Step::Nothing,
        }
    }
}

// One non-interactive remote command; `timeout` and cancellation end it.
mcp_entry! {
    ssh_exec_router: ssh_exec(ExecArgs) => call_exec::<SshExec>,
    name = "ssh_exec",
    description = "Run a remote command (non-interactive). Set timeout if it may hang.",
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
        let v = serde_json::to_value(ExecResult::fitted(finished, 50_000)).unwrap();
        assert!(v.get("exit_code").is_none(), "{v}");
        assert_eq!(v["signal"], 15);
        assert!(v.get("stdout_base64").is_none(), "{v}");
        assert_eq!(v["stderr_base64"], "/w==");
        // Bytes that are not UTF-8 come once: no lossy text beside them.
        assert_eq!(v["stderr"], "");
        assert_eq!(v["ok"], false);
        assert!(v.get("output_id").is_none(), "{v}");
    }

    #[test]
    fn a_result_stays_within_its_budget_and_says_where_the_rest_is() {
        let head = "h".repeat(60_000);
        let tail = "t".repeat(60_000);
        let finished = pb::Finished {
            exit_code: Some(0),
            stdout: format!("{head}{tail}").into_bytes(),
            stdout_cut_at: Some(60_000),
            stdout_truncated: true,
            stdout_bytes: 1_000_000,
            stderr: "e\n".repeat(30_000).into_bytes(),
            stderr_bytes: 60_000,
            output_id: "out-0123456789abcdef".into(),
            target: "h".into(),
            command: "c".into(),
            ..Default::default()
        };
        for budget in [2_000, 50_000, 200_000] {
            let r = ExecResult::fitted(finished.clone(), budget);
            let text = serde_json::to_string(&r).unwrap();
            assert!(
                text.encode_utf16().count() <= budget as usize,
                "{budget}: {}",
                text.len()
            );
            assert!(
                r.stdout.starts_with('h') && r.stdout.ends_with('t'),
                "{budget}"
            );
            assert!(r.stdout_truncated && r.stdout.contains("output_id=\"out-0123456789abcdef\""));
            assert_eq!(r.output_id.as_deref(), Some("out-0123456789abcdef"));
        }
        let r = ExecResult::fitted(finished, 50_000);
        let text = serde_json::to_string(&r).unwrap();
        assert!(
            text.len() > 45_000,
            "the budget is used, not wasted: {}",
            text.len()
        );
    }
}
