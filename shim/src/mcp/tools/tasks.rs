//! MCP Tasks (the `io.modelcontextprotocol/tasks` extension) on background jobs. A client that
//! declares the extension and calls `ssh_exec` with `background: true` gets a task whose id is
//! the job's id, instead of the job's result; `tasks/get` reports the job (working, then
//! completed with a result shaped like `ssh_exec`'s: the start of each stream, with `output_id`
//! for the rest), and `tasks/cancel` stops it as `ssh_stop_job` does. Clients without the
//! extension get the job's result as before, and `ssh_read_output` and `ssh_stop_job` work on
//! the same job either way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use rmcp::ErrorData as McpError;
use rmcp::RoleServer;
use rmcp::model::{
    CallToolResponse, CallToolResult, CancelTaskParams, ContentBlock, CreateTaskResult,
    DetailedTask, GetTaskParams, GetTaskResult, Task, TaskPayload, TaskStatus,
};
use rmcp::service::RequestContext;
use serde_json::{Value, json};
use ssh_mcp_wire::pb;

use super::call::{Call, Streamed, Tool};
use super::exec::ExecArgs;
use super::jobs::SshStopJob;
use super::outputs::SshReadOutput;
use crate::mcp::{SshMcp, result};

/// How often a client is asked to look again, in milliseconds.
const POLL_INTERVAL_MS: u64 = 2_000;
/// The start of stdout and of stderr that a completed task's result holds (the rest is read
/// with `ssh_read_output`), within the 50,000 characters of a result.
const STDOUT_HEAD_BYTES: u64 = 30_000;
const STDERR_HEAD_BYTES: u64 = 10_000;

/// What this shim knows of its tasks beyond the jobs themselves: those it was asked to cancel,
/// and the results of those that ended (a job's files may leave the host once read).
#[derive(Default, Clone)]
pub(crate) struct TaskBook {
    inner: Arc<Mutex<Book>>,
}

#[derive(Default)]
struct Book {
    cancelled: std::collections::HashSet<String>,
    ended: HashMap<String, GetTaskResult>,
}

impl TaskBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn declares_tasks(ctx: &RequestContext<RoleServer>) -> bool {
    ctx.client_capabilities()
        .is_some_and(|caps| caps.supports_tasks())
}

impl SshMcp {
    /// `ssh_exec`, as a task when the client declares the extension and asks for a background
    /// job; otherwise exactly [`SshMcp::call_streamed`].
    pub(crate) async fn call_exec<T: Streamed + Tool<Args = ExecArgs>>(
        &self,
        call: Call,
        args: ExecArgs,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let as_task = args.background == Some(true) && declares_tasks(&ctx);
        let response = self.call_streamed::<T>(call, args, ctx).await?;
        if !as_task {
            return Ok(response);
        }
        let CallToolResponse::Complete(result) = &response else {
            return Ok(response);
        };
        let job_id = result
            .structured_content
            .as_ref()
            .and_then(|v| v.get("job_id"))
            .and_then(Value::as_str);
        match job_id {
            Some(id) if result.is_error != Some(true) => {
                let now = utc_now();
                let task = Task::new(id, TaskStatus::Working, now.clone(), now)
                    .with_poll_interval_ms(POLL_INTERVAL_MS)
                    .with_status_message("running on the host");
                Ok(CallToolResponse::Task(CreateTaskResult::new(task)))
            }
            _ => Ok(response),
        }
    }

    /// `tasks/get`: the job's state, and once it has ended, its result.
    pub(crate) async fn task_state(
        &self,
        params: GetTaskParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, McpError> {
        let id = params.task_id;
        if let Some(ended) = self.tasks.lock().ended.get(&id) {
            return Ok(ended.clone());
        }
        let stdout = self.head(&ctx, &id, "stdout", STDOUT_HEAD_BYTES).await?;
        let job = stdout.job.clone().unwrap_or_default();
        let now = utc_now();
        let task = Task::new(&id, TaskStatus::Working, now.clone(), now)
            .with_poll_interval_ms(POLL_INTERVAL_MS);
        if job.running {
            let task = task.with_status_message(format!(
                "running on the host; {} bytes of stdout so far",
                stdout.written_bytes
            ));
            return Ok(GetTaskResult::new(DetailedTask::new(
                task,
                TaskPayload::Working,
            )));
        }
        let cancelled = self.tasks.lock().cancelled.contains(&id);
        let detailed = if cancelled {
            DetailedTask::new(
                task.with_status_message("stopped by tasks/cancel"),
                TaskPayload::Cancelled,
            )
        } else {
            let stderr = self.head(&ctx, &id, "stderr", STDERR_HEAD_BYTES).await?;
            let result = job_result(&id, &job, stdout, stderr);
            let result = match serde_json::to_value(&result) {
                Ok(Value::Object(map)) => map,
                _ => {
                    return Err(McpError::internal_error(
                        "could not encode the result",
                        None,
                    ));
                }
            };
            DetailedTask::new(task, TaskPayload::Completed { result })
        };
        let answer = GetTaskResult::new(detailed);
        self.tasks.lock().ended.insert(id, answer.clone());
        Ok(answer)
    }

    /// `tasks/cancel`: stops the job (TERM to its process group, KILL after 2 s).
    pub(crate) async fn cancel_task_job(
        &self,
        params: CancelTaskParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let request = pb::StopJobRequest {
            job_id: params.task_id.clone(),
            ssh_auth_sock: super::connection::caller_auth_sock(),
        };
        let call = Call {
            tool: "tasks/cancel",
            resumed: None,
        };
        match self.send::<SshStopJob>(&ctx, call, &request).await {
            Ok(_stopped) => {
                self.tasks.lock().cancelled.insert(params.task_id);
                Ok(())
            }
            Err(failure) => Err(as_error(failure)),
        }
    }

    /// The first `max_bytes` of one stream of job `id`, and the job's state.
    async fn head(
        &self,
        ctx: &RequestContext<RoleServer>,
        id: &str,
        stream: &str,
        max_bytes: u64,
    ) -> Result<pb::OutputPage, McpError> {
        let request = pb::ReadOutputRequest {
            output_id: id.to_owned(),
            stream: stream.to_owned(),
            offset: Some(0),
            max_bytes,
            reader_id: String::new(),
            wait_seconds: None,
            ssh_auth_sock: super::connection::caller_auth_sock(),
        };
        let call = Call {
            tool: "tasks/get",
            resumed: None,
        };
        self.send::<SshReadOutput>(ctx, call, &request)
            .await
            .map_err(as_error)
    }
}

/// A completed job's result, shaped like `ssh_exec`'s.
fn job_result(
    id: &str,
    job: &pb::Job,
    stdout: pb::OutputPage,
    stderr: pb::OutputPage,
) -> CallToolResult {
    let mut value = json!({
        "ok": job.exit_code == Some(0),
        "job_id": id,
        "output_id": id,
        "exit_code": job.exit_code,
        "signal": job.signal,
    });
    for (name, page) in [("stdout", stdout), ("stderr", stderr)] {
        let truncated = !page.eof;
        value[format!("{name}_bytes")] = json!(page.written_bytes);
        value[format!("{name}_truncated")] = json!(truncated);
        if page.encoding == "base64" {
            value[name] = json!("");
            value[format!("{name}_base64")] =
                json!(base64::engine::general_purpose::STANDARD.encode(&page.data));
        } else {
            value[name] = json!(String::from_utf8_lossy(&page.data));
        }
    }
    if let Value::Object(map) = &mut value {
        map.retain(|_, v| !v.is_null());
    }
    result::structured(value)
}

/// A failed daemon call as a JSON-RPC error (tasks/* answer with errors, not tool results).
fn as_error(failure: CallToolResponse) -> McpError {
    let message = match failure {
        CallToolResponse::Complete(r) => r
            .content
            .iter()
            .find_map(|c| match c {
                ContentBlock::Text(t) => Some(t.text.clone()),
                _ => None,
            })
            .unwrap_or_else(|| "the daemon could not answer".into()),
        _ => "the daemon could not answer".into(),
    };
    McpError::invalid_params(message, None)
}

/// Now as an RFC 3339 time in UTC, to the second.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc_time(secs)
}

/// `secs` since the Unix epoch as `YYYY-MM-DDThh:mm:ssZ` (days to a civil date as in the
/// proleptic Gregorian calendar).
fn utc_time(secs: u64) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_in_utc() {
        assert_eq!(utc_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_time(1_796_601_661), "2026-12-07T00:01:01Z");
    }

    #[test]
    fn a_completed_job_reads_as_an_exec_result() {
        let job = pb::Job {
            exit_code: Some(7),
            ..Default::default()
        };
        let out = pb::OutputPage {
            data: b"hello\n".to_vec(),
            encoding: "utf-8".into(),
            eof: true,
            written_bytes: 6,
            ..Default::default()
        };
        let err = pb::OutputPage {
            data: vec![0xff, 0xfe],
            encoding: "base64".into(),
            eof: false,
            written_bytes: 70_000,
            ..Default::default()
        };
        let r = job_result("job-1", &job, out, err);
        let v = r.structured_content.unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["exit_code"], 7);
        assert_eq!(v["stdout"], "hello\n");
        assert_eq!(v["stdout_truncated"], false);
        assert_eq!(v["stderr_base64"], "//4=");
        assert_eq!(v["stderr_truncated"], true);
        assert_eq!(v["output_id"], "job-1");
        assert!(v.get("signal").is_none());
    }
}
