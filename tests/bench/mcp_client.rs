//! A minimal MCP client over the shim's stdio: newline-delimited JSON-RPC written by hand (the
//! point is to time the shim, not a client library). One reader task matches responses to
//! requests by id and stamps each with the instant its line was read.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::oneshot;

use crate::env::BenchEnv;

/// How long any single request may take before the bench gives up on it.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// A response and the instant its line was read.
pub struct Reply {
    pub message: Value,
    pub read_at: Instant,
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Reply>>>>;

/// One MCP session with a spawned shim.
pub struct McpClient {
    child: Child,
    stdin: ChildStdin,
    pending: Pending,
    next_id: AtomicU64,
}

impl McpClient {
    /// Spawns the shim and completes the MCP handshake.
    pub async fn connect(env: &BenchEnv, shim: &Path) -> anyhow::Result<Self> {
        let mut cmd = Command::new(shim);
        env.apply_tokio(&mut cmd);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(env.shim_log()?))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning {}", shim.display()))?;
        let stdin = child.stdin.take().context("shim stdin")?;
        let stdout = child.stdout.take().context("shim stdout")?;
        let pending: Pending = Arc::default();
        let table = pending.clone();
        tokio::spawn(async move {
            // One line buffer, reused; serde_json checks the UTF-8 as it parses.
            let mut reader = BufReader::with_capacity(256 * 1024, stdout);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let read_at = Instant::now();
                let Ok(message) = serde_json::from_slice::<Value>(&line) else {
                    eprintln!(
                        "bench: shim wrote a line that is not JSON: {}",
                        clip(&String::from_utf8_lossy(&line), 200)
                    );
                    continue;
                };
                // Notifications and server requests carry a method; answers do not.
                if message.get("method").is_some() {
                    continue;
                }
                let Some(id) = message.get("id").and_then(Value::as_u64) else {
                    continue;
                };
                let waiter = table.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                if let Some(tx) = waiter {
                    let _ = tx.send(Reply { message, read_at });
                }
            }
        });
        let mut client = Self {
            child,
            stdin,
            pending,
            next_id: AtomicU64::new(1),
        };
        let init = client.request("initialize", initialize_params()).await?;
        let answer = init.await?;
        if answer.message.get("result").is_none() {
            bail!("initialize failed: {}", answer.message);
        }
        client
            .write_line(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await?;
        Ok(client)
    }

    /// Writes a request; returns a future for its reply. Requests may overlap.
    pub async fn request(
        &mut self,
        method: &str,
        params: Value,
    ) -> anyhow::Result<impl Future<Output = anyhow::Result<Reply>> + use<>> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tx);
        self.write_line(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await?;
        Ok(async move {
            tokio::time::timeout(CALL_TIMEOUT, rx)
                .await
                .map_err(|_| anyhow!("request {id} got no answer within {CALL_TIMEOUT:?}"))?
                .map_err(|_| anyhow!("the shim closed stdout before answering request {id}"))
        })
    }

    /// Writes a tools/call of the tool `name`; returns a future for its reply.
    pub async fn call(
        &mut self,
        name: &str,
        arguments: Value,
    ) -> anyhow::Result<impl Future<Output = anyhow::Result<Reply>> + use<>> {
        self.request("tools/call", json!({"name": name, "arguments": arguments}))
            .await
    }

    /// One tools/call of `name`, timed from the request being written to the response being
    /// read: the tool's structured result, or an error when the call or the tool failed.
    pub async fn call_timed(
        &mut self,
        name: &str,
        arguments: Value,
    ) -> anyhow::Result<(Value, Duration)> {
        let sent = Instant::now();
        let reply = self.call(name, arguments).await?.await?;
        let took = reply.read_at - sent;
        Ok((structured(name, &reply.message)?, took))
    }

    /// Writes an `ssh_exec` tools/call; returns a future for its reply.
    pub async fn exec(
        &mut self,
        arguments: Value,
    ) -> anyhow::Result<impl Future<Output = anyhow::Result<Reply>> + use<>> {
        self.call("ssh_exec", arguments).await
    }

    /// One `ssh_exec` call, timed from the request being written to the response being read.
    pub async fn exec_timed(&mut self, arguments: Value) -> anyhow::Result<(ExecResult, Duration)> {
        let sent = Instant::now();
        let reply = self.exec(arguments).await?.await?;
        let took = reply.read_at - sent;
        Ok((ExecResult::from_message(&reply.message)?, took))
    }

    /// The shim's process id (None once it has been reaped).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    async fn write_line(&mut self, message: &Value) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(message)?;
        line.push(b'\n');
        self.stdin.write_all(&line).await?;
        self.stdin.flush().await?;
        Ok(())
    }

    /// Closes stdin (the shim's signal to exit) and waits for it.
    pub async fn close(mut self) -> anyhow::Result<()> {
        self.stdin.shutdown().await?;
        drop(self.stdin);
        match tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                eprintln!("bench: the shim did not exit 5 s after stdin closed; killing it");
                self.child.kill().await?;
            }
        }
        Ok(())
    }
}

/// The initialize request's params.
pub fn initialize_params() -> Value {
    json!({
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "0"}
    })
}

/// The structured result of a tools/call of `tool` that succeeded; an error saying why otherwise.
pub fn structured(tool: &str, message: &Value) -> anyhow::Result<Value> {
    let result = message.get("result").ok_or_else(|| {
        anyhow!(
            "{tool}: tools/call failed: {}",
            clip(&message.to_string(), 500)
        )
    })?;
    let failed = result
        .get("isError")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    match result.get("structuredContent") {
        Some(s) if !failed => Ok(s.clone()),
        _ => bail!("{tool} failed: {}", clip(&result.to_string(), 500)),
    }
}

/// The structured content of a successful `tools/call` reply, taken out of it rather than copied
/// (a page of output is megabytes).
pub fn take_structured(tool: &str, message: &mut Value) -> anyhow::Result<Value> {
    let taken = message
        .pointer_mut("/result/structuredContent")
        .map(Value::take);
    let failed = message.pointer("/result/isError") == Some(&Value::Bool(true));
    match taken {
        Some(s) if !failed => Ok(s),
        _ => bail!("{tool} failed: {}", clip(&message.to_string(), 500)),
    }
}

/// The fields of an `ssh_exec` result the bench looks at.
#[derive(Debug, Clone)]
pub struct ExecResult {
    pub ok: bool,
    pub is_error: bool,
    pub exit_code: Option<i64>,
    pub stdout_truncated: bool,
    pub stdout_bytes: u64,
    pub duration_ms: u64,
    pub reused_connection: bool,
    pub stderr: String,
    /// Where the whole output is kept, when the result was cut.
    pub output_id: Option<String>,
}

impl ExecResult {
    pub fn from_message(message: &Value) -> anyhow::Result<Self> {
        let result = message
            .get("result")
            .ok_or_else(|| anyhow!("tools/call failed: {}", clip(&message.to_string(), 500)))?;
        let is_error = result
            .get("isError")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let Some(s) = result.get("structuredContent") else {
            // A tool error without structured content: keep its text for the report.
            return Ok(Self {
                ok: false,
                is_error,
                exit_code: None,
                stdout_truncated: false,
                stdout_bytes: 0,
                duration_ms: 0,
                reused_connection: false,
                stderr: clip(&result.to_string(), 300),
                output_id: None,
            });
        };
        let flag = |k: &str| s.get(k).and_then(Value::as_bool).unwrap_or(false);
        let num = |k: &str| s.get(k).and_then(Value::as_u64).unwrap_or(0);
        Ok(Self {
            ok: flag("ok"),
            is_error,
            exit_code: s.get("exit_code").and_then(Value::as_i64),
            stdout_truncated: flag("stdout_truncated"),
            stdout_bytes: num("stdout_bytes"),
            duration_ms: num("duration_ms"),
            reused_connection: flag("reused_connection"),
            stderr: clip(
                s.get("stderr").and_then(Value::as_str).unwrap_or_default(),
                300,
            ),
            output_id: s
                .get("output_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }

    /// A one-line description of a failed call.
    pub fn failure(&self) -> String {
        format!(
            "ok={} isError={} exit_code={:?} stderr={:?}",
            self.ok, self.is_error, self.exit_code, self.stderr
        )
    }
}

/// The first `n` characters of `s`.
fn clip(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}
