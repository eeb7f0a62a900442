//! `ssh_exec`: one remote command (drop-in for the seed's tool, plus output caps, progress and
//! cancellation). Arguments become a `RunRequest`; the daemon's event stream becomes progress
//! notifications and, at the end, the result.

use std::collections::BTreeMap;

use base64::Engine;
use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ProgressNotificationParam};
use rmcp::schemars::{self, JsonSchema};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, tool, tool_router};
use serde::{Deserialize, Serialize};
use ssh_mcp_core::pb::exec_client::ExecClient;
use ssh_mcp_core::pb::{self, RunRequest, run_event::Event};

use super::connection::{HostKeyChecking, connection};
use crate::daemon_link::is_transport_failure;
use crate::mcp::{SshMcp, result};

/// The largest result message accepted from the daemon (two streams at the 64 MiB cap, plus room).
const MAX_RESULT_BYTES: usize = 160 * 1024 * 1024;

/// How often the daemon reports progress when the client asked for it.
const PROGRESS_INTERVAL_MS: u32 = 1000;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecArgs {
    /// OpenSSH target such as host, alias, or user@host.
    pub target: String,
    /// Remote command string to execute.
    pub command: String,
    /// Remote directory to cd into before running the command (~ and ~/… mean the remote home).
    pub cwd: Option<String>,
    /// Remote environment variables exported before the command runs.
    pub env: Option<BTreeMap<String, String>>,
    /// Remote shell executable used to wrap the command when shell/cwd/env behavior is needed.
    pub shell: Option<String>,
    /// Timeout in seconds. When it expires the remote command and its children are ended
    /// (SIGTERM, then SIGKILL) and timed_out is true. Default: no limit.
    pub timeout: Option<f64>,
    /// Request a remote TTY (ssh -tt). stdout and stderr are merged and may hold ANSI codes.
    /// Default: false.
    pub tty: Option<bool>,
    /// Port on the remote host.
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u32>,
    /// Local private key file (absolute, or starting with ~/).
    pub identity_file: Option<String>,
    /// Local known_hosts file (absolute, or starting with ~/).
    pub known_hosts_file: Option<String>,
    /// Boolean or one of yes, no, ask, accept-new, off.
    pub strict_host_key_checking: Option<HostKeyChecking>,
    /// Additional ssh(1) options, checked against an allowlist (e.g. ["-J", "jumphost"],
    /// ["-o", "ConnectTimeout=5"]). Options that run local commands, load libraries, read other
    /// config files or open forwards are refused.
    pub extra_ssh_args: Option<Vec<String>>,
    /// Bytes kept of each of stdout and stderr (default 1048576, at most 67108864). Beyond it the
    /// middle is left out and *_truncated is true.
    #[schemars(range(min = 64, max = 67108864))]
    pub max_output_bytes: Option<u64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ExecResult {
    /// The remote command's exit status; null when it was stopped or never ran.
    pub exit_code: Option<i32>,
    /// The signal that ended the command (15 or 9 when a timeout stopped it), else null.
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

fn text_and_exact(bytes: Vec<u8>) -> (String, Option<String>) {
    match String::from_utf8(bytes) {
        Ok(s) => (s, None),
        Err(e) => {
            let bytes = e.into_bytes();
            (
                String::from_utf8_lossy(&bytes).into_owned(),
                Some(base64::engine::general_purpose::STANDARD.encode(&bytes)),
            )
        }
    }
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

#[tool_router(router = exec_tools, vis = "pub(crate)")]
impl SshMcp {
    /// Run a one-off remote SSH command and return stdout, stderr, and exit metadata. The command
    /// runs in a non-interactive context over a reused connection. Use 'cwd' and 'env' for remote
    /// directory and environment setup (requires a POSIX shell on the remote). Set 'timeout' for
    /// anything that may hang: the remote command is ended when it expires or the call is
    /// cancelled. For interactive or long-running commands, use a session instead.
    #[tool(
        name = "ssh_exec",
        title = "Run a remote command",
        output_schema = schema_for_output::<ExecResult>(),
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = true)
    )]
    async fn ssh_exec(
        &self,
        Parameters(args): Parameters<ExecArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let progress_token = ctx.meta.get_progress_token();
        let request = RunRequest {
            connection: Some(connection(
                args.target,
                args.port,
                args.identity_file,
                args.known_hosts_file,
                args.strict_host_key_checking,
                args.extra_ssh_args,
            )),
            command: args.command,
            cwd: args.cwd,
            env: args
                .env
                .unwrap_or_default()
                .into_iter()
                .map(|(name, value)| pb::EnvVar { name, value })
                .collect(),
            shell: args.shell,
            timeout_seconds: args.timeout,
            tty: args.tty.unwrap_or(false),
            max_output_bytes: args.max_output_bytes.unwrap_or(0),
            progress_interval_ms: if progress_token.is_some() {
                PROGRESS_INTERVAL_MS
            } else {
                0
            },
        };
        let timeout = args.timeout;
        let mut retried = false;
        let mut stream = loop {
            let channel = match self.link.channel().await {
                Ok(c) => c,
                Err(e) => return Ok(result::unreachable(&e)),
            };
            // A result holds up to two capped streams of 64 MiB each; tonic's default limit is 4 MiB.
            let mut client = ExecClient::new(channel).max_decoding_message_size(MAX_RESULT_BYTES);
            match client.run(request.clone()).await {
                Ok(response) => break response.into_inner(),
                Err(status) if !retried && is_transport_failure(&status) => {
                    // The daemon went away between calls; the request never reached it.
                    tracing::info!("daemon connection lost; reconnecting once: {status}");
                    self.link.reset().await;
                    retried = true;
                }
                Err(status) => return Ok(result::from_status(&status)),
            }
        };
        loop {
            // Dropping the stream when the client cancels tells the daemon to stop the command.
            let message = tokio::select! {
                m = stream.message() => m,
                _ = ctx.ct.cancelled() => return Ok(result::failure("cancelled", "the call was cancelled; the remote command was stopped".into())),
            };
            match message {
                Ok(Some(event)) => match event.event {
                    Some(Event::Progress(p)) => {
                        if let Some(token) = progress_token.clone() {
                            let mut note =
                                ProgressNotificationParam::new(token, p.elapsed_ms as f64 / 1000.0)
                                    .with_message(format!(
                                        "{} {:.0}s, stdout {}, stderr {}",
                                        p.phase,
                                        p.elapsed_ms as f64 / 1000.0,
                                        human_bytes(p.stdout_bytes),
                                        human_bytes(p.stderr_bytes)
                                    ));
                            if let Some(t) = timeout {
                                note = note.with_total(t);
                            }
                            let _ = ctx.peer.notify_progress(note).await;
                        }
                    }
                    Some(Event::Finished(f)) => return Ok(result::success(&ExecResult::from(f))),
                    None => {}
                },
                Ok(None) => {
                    return Ok(result::failure(
                        "daemon_unavailable",
                        "the daemon ended the call without a result (it may have restarted); the command may or may not have run".into(),
                    ));
                }
                Err(status) => return Ok(result::from_status(&status)),
            }
        }
    }
}
