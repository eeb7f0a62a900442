//! The session tools as the session benchmarks call them. Every session the bench starts runs
//! `/bin/sh` (the `shell` parameter), not the account's login shell: its start-up files (on this
//! machine root's ~/.bashrc runs `pyenv init`) are not what the figures are about. The observer is
//! the transcript file, so no tmux process is involved.

use anyhow::{Context, ensure};
use serde_json::{Value, json};

use crate::daemon;
use crate::env::BenchEnv;
use crate::mcp_client::McpClient;

pub const TARGET: &str = "testhost";
pub const SHELL: &str = "/bin/sh";

/// `ssh_start_session` arguments: a /bin/sh session on `target` (a name of the bench's sshd).
pub fn start_args(target: &str, wait_seconds: f64) -> Value {
    json!({
        "target": target,
        "shell": SHELL,
        "observer_mode": "transcript",
        "wait_seconds": wait_seconds,
    })
}

/// A string field of a tool's structured result.
pub fn text<'a>(result: &'a Value, key: &str) -> anyhow::Result<&'a str> {
    result
        .get(key)
        .and_then(Value::as_str)
        .with_context(|| format!("no string {key:?} in {}", clip(result)))
}

/// A number field of a tool's structured result.
pub fn number(result: &Value, key: &str) -> anyhow::Result<u64> {
    result
        .get(key)
        .and_then(Value::as_u64)
        .with_context(|| format!("no number {key:?} in {}", clip(result)))
}

/// A boolean field of a tool's structured result (absent counts as false).
pub fn flag(result: &Value, key: &str) -> bool {
    result.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// Starts a session and returns its id, once the shell has printed its prompt (the start's
/// read waits up to 2 s for output to settle).
pub async fn start(client: &mut McpClient) -> anyhow::Result<String> {
    let (s, _) = client
        .call_timed("ssh_start_session", start_args(TARGET, 2.0))
        .await?;
    ensure!(
        flag(&s, "running"),
        "the session is not running: {}",
        clip(&s)
    );
    Ok(text(&s, "session_id")?.to_owned())
}

/// Reads whatever this client has not read yet, without waiting, so that the next write's
/// answer is all the next read holds.
pub async fn drain(client: &mut McpClient, sid: &str) -> anyhow::Result<()> {
    loop {
        let (r, _) = client
            .call_timed(
                "ssh_read_session",
                json!({"session_id": sid, "wait_seconds": 0, "max_output_chars": 1_048_576}),
            )
            .await?;
        if !flag(&r, "truncated") {
            return Ok(());
        }
    }
}

/// Stops a session (hang-up first) and checks that it has ended.
pub async fn stop(client: &mut McpClient, sid: &str) -> anyhow::Result<()> {
    let (s, _) = client
        .call_timed("ssh_stop_session", json!({"session_id": sid}))
        .await?;
    ensure!(
        !flag(&s, "running"),
        "session {sid} still runs after ssh_stop_session: {}",
        clip(&s)
    );
    Ok(())
}

/// Stops the daemon and connects a new MCP session, whose first call autostarts a fresh daemon:
/// that daemon's peak RSS then covers only what the caller does next. Returns the client and the
/// old daemon's pid, to check that the next one differs.
pub async fn restart_daemon(env: &BenchEnv) -> anyhow::Result<(McpClient, Option<u32>)> {
    let old = daemon::pid(env)?;
    daemon::stop(env)?;
    ensure!(
        daemon::pid(env)?.is_none(),
        "the daemon still answers after stop"
    );
    Ok((McpClient::connect(env, &env.shim).await?, old))
}

/// The pid of the daemon now serving the bench, which must not be `old`.
pub fn new_daemon_pid(env: &BenchEnv, old: Option<u32>) -> anyhow::Result<u32> {
    let pid = daemon::pid(env)?.context("no daemon after the first call")?;
    ensure!(Some(pid) != old, "the daemon was not restarted (pid {pid})");
    Ok(pid)
}

/// A result, shortened for an error message.
pub fn clip(v: &Value) -> String {
    v.to_string().chars().take(400).collect()
}
