//! `ssh_exec_many`: one command on many hosts at once. The targets are names, or globs over the
//! hosts of the ssh configuration (`Hosts.List`); each runs as its own `Exec.Run` through the
//! door (so the policy judges, and the audit trail records, every target), over its own pooled
//! master, at most `parallelism` at a time. Identical answers (stdout, stderr and exit code) are
//! grouped and shown once, within the result budget (`budget`); each host's whole output stays
//! readable by its `output_id`. Cancelling the call drops every stream, which ends the remote
//! commands on every host.

use std::collections::BTreeMap;

use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::tool::{InputResponses, RequestState};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResponse, ProgressNotificationParam};
use rmcp::schemars::{self, JsonSchema};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, tool, tool_router};
use serde::{Deserialize, Serialize};
use ssh_mcp_wire::pb::{self, RunRequest, run_event::Event};

use super::call::Call;
use super::exec::{SshExec, env_vars};
use super::services::Hosts;
use crate::mcp::approval::Resumed;
use crate::mcp::{SshMcp, budget, result, schema};

/// Hosts at once when the call does not say, and the most it may ask for.
const DEFAULT_PARALLELISM: usize = 10;
const MAX_PARALLELISM: usize = 50;
/// The most targets one call may name (after globs).
const MAX_TARGETS: usize = 500;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::portable)]
pub struct ExecManyArgs {
    /// Host names, or globs over ssh_hosts names (web*).
    pub targets: Vec<String>,
    pub command: String,
    pub cwd: Option<String>,
    pub env: Option<BTreeMap<String, String>>,
    pub shell: Option<String>,
    /// Seconds, per host.
    pub timeout: Option<f64>,
    /// Hosts at once (default 10, max 50).
    pub parallelism: Option<u32>,
    /// Result size cap in chars.
    pub max_result_chars: Option<u32>,
}

/// One target's outcome. Optional fields are absent rather than null (see `schema.rs`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(transform = schema::portable)]
pub struct Row {
    pub target: String,
    /// exit_code 0, no timeout.
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub duration_ms: u64,
    /// Index in groups of its output; absent when it did not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<usize>,
    /// Its whole output, when the group's shows part of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_id: Option<String>,
    /// Why it did not run (unreachable, refused by the policy...): the error's type and message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Targets that answered the same, and the answer once.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(transform = schema::portable)]
pub struct Group {
    pub targets: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout_base64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr_base64: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(transform = schema::portable)]
pub struct ExecManyResult {
    /// Every target ran and exited 0.
    pub ok: bool,
    pub command: String,
    pub ok_count: usize,
    pub failed_count: usize,
    pub results: Vec<Row>,
    pub groups: Vec<Group>,
    /// Globs that matched no configured host.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmatched: Vec<String>,
}

/// What one target gave: its finished event, or the failure result of its call.
enum Answer {
    Finished(pb::Finished),
    Failed { error_type: String, message: String },
}

fn failure_of(response: CallToolResponse) -> Answer {
    let (error_type, message) = match response {
        CallToolResponse::Complete(r) => {
            let sc = r.structured_content.unwrap_or_default();
            let text = |k: &str| {
                sc.get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            (text("error_type"), text("message"))
        }
        _ => (
            "approval_required".to_owned(),
            "the policy asks a person about this target: run ssh_exec on it alone".to_owned(),
        ),
    };
    Answer::Failed {
        error_type,
        message,
    }
}

impl SshMcp {
    /// The names the call's targets stand for: names as they are, globs matched against the
    /// configured hosts (in their order); and the globs that matched none.
    async fn expand_targets(
        &self,
        ctx: &RequestContext<RoleServer>,
        call_tool: &'static str,
        targets: &[String],
    ) -> Result<(Vec<String>, Vec<String>), CallToolResponse> {
        let globs = targets.iter().any(|t| t.contains(['*', '?']));
        let configured: Vec<String> = if globs {
            let request = pb::ListHostsRequest {
                filter: None,
                probe: false,
                ssh_auth_sock: None,
            };
            let reply = self
                .unary(
                    ctx,
                    None,
                    <Hosts as super::call::Service>::client,
                    |mut client, _| {
                        let request = Self::outgoing(ctx, call_tool, request.clone(), None);
                        async move { client.list(request).await }
                    },
                    result::from_status,
                )
                .await?;
            reply.hosts.into_iter().map(|h| h.name).collect()
        } else {
            Vec::new()
        };
        let (mut names, mut unmatched) = (Vec::new(), Vec::new());
        for t in targets {
            let t = t.trim();
            if t.contains(['*', '?']) {
                let hits: Vec<&String> = configured.iter().filter(|n| glob_matches(t, n)).collect();
                if hits.is_empty() {
                    unmatched.push(t.to_owned());
                }
                names.extend(hits.into_iter().cloned());
            } else {
                names.push(t.to_owned());
            }
        }
        let mut seen = std::collections::HashSet::new();
        names.retain(|n| seen.insert(n.clone()));
        Ok((names, unmatched))
    }

    /// Runs one target's command to its end.
    async fn run_one(&self, ctx: &RequestContext<RoleServer>, request: RunRequest) -> Answer {
        let call = Call {
            tool: "ssh_exec_many",
            resumed: None,
        };
        let mut stream = match self.send::<SshExec>(ctx, call, &request).await {
            Ok(s) => s,
            Err(failure) => return failure_of(failure),
        };
        loop {
            match self
                .next_event(ctx, &mut stream, "the remote command")
                .await
            {
                Ok(pb::RunEvent {
                    event: Some(Event::Finished(f)),
                }) => return Answer::Finished(f),
                Ok(_) => {}
                Err(failure) => return failure_of(failure.into()),
            }
        }
    }

    pub(crate) async fn call_exec_many(
        &self,
        call: Call,
        args: ExecManyArgs,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        if args.targets.is_empty() {
            return Ok(result::failure(
                "validation_error",
                "'targets' must name at least one host".into(),
            )
            .into());
        }
        let parallelism = match args.parallelism {
            None => DEFAULT_PARALLELISM,
            Some(n) if (1..=MAX_PARALLELISM as u32).contains(&n) => n as usize,
            Some(n) => {
                return Ok(result::failure(
                    "validation_error",
                    format!("'parallelism' must be between 1 and {MAX_PARALLELISM} (got {n})"),
                )
                .into());
            }
        };
        let (targets, unmatched) = match self.expand_targets(&ctx, call.tool, &args.targets).await {
            Ok(t) => t,
            Err(failure) => return Ok(failure),
        };
        if targets.len() > MAX_TARGETS {
            return Ok(result::failure(
                "validation_error",
                format!(
                    "{} targets; at most {MAX_TARGETS} in one call",
                    targets.len()
                ),
            )
            .into());
        }
        let budget_chars = args
            .max_result_chars
            .unwrap_or(budget::DEFAULT_RESULT_CHARS);
        // Each host keeps as much as the whole result could show of it.
        let base = RunRequest {
            connection: None,
            command: args.command.clone(),
            cwd: args.cwd.clone(),
            env: env_vars(args.env.clone()),
            shell: args.shell.clone(),
            timeout_seconds: args.timeout,
            tty: false,
            max_output_bytes: 0,
            progress_interval_ms: 0,
            result_chars: budget_chars,
            background: false,
        };
        let progress_token = ctx.meta.get_progress_token();
        let total = targets.len();
        let semaphore = tokio::sync::Semaphore::new(parallelism);
        let done = std::sync::atomic::AtomicUsize::new(0);
        let runs = targets.iter().map(|target| {
            let mut request = base.clone();
            request.connection = Some(super::connection::connection(
                target.clone(),
                None,
                None,
                None,
                None,
                None,
            ));
            let (ctx, semaphore, done, token) = (&ctx, &semaphore, &done, progress_token.clone());
            async move {
                let _permit = semaphore.acquire().await;
                let answer = self.run_one(ctx, request).await;
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if let Some(token) = token {
                    let note = ProgressNotificationParam::new(token, n as f64)
                        .with_total(total as f64)
                        .with_message(format!("{target}: done ({n} of {total})"));
                    let _ = ctx.peer.notify_progress(note).await;
                }
                answer
            }
        });
        let answers = join_all(runs).await;
        Ok(result::success(&assemble(
            args.command,
            &targets,
            answers,
            unmatched,
            budget_chars,
        ))
        .into())
    }
}

/// What makes two answers the same: stdout and stderr as kept (head and tail), the exit code
/// and the sizes written.
type AnswerKey = (Vec<u8>, Vec<u8>, Option<i32>, u64, u64);

/// Rows and groups from the answers, the groups' outputs fitted into the budget.
fn assemble(
    command: String,
    targets: &[String],
    answers: Vec<Answer>,
    unmatched: Vec<String>,
    budget_chars: u32,
) -> ExecManyResult {
    let mut rows = Vec::with_capacity(targets.len());
    let mut keys: Vec<AnswerKey> = Vec::new();
    let mut firsts: Vec<pb::Finished> = Vec::new();
    let mut members: Vec<Vec<String>> = Vec::new();
    for (target, answer) in targets.iter().zip(answers) {
        match answer {
            Answer::Finished(f) => {
                let key = (
                    f.stdout.clone(),
                    f.stderr.clone(),
                    f.exit_code,
                    f.stdout_bytes,
                    f.stderr_bytes,
                );
                let group = match keys.iter().position(|k| *k == key) {
                    Some(g) => g,
                    None => {
                        keys.push(key);
                        firsts.push(f.clone());
                        members.push(Vec::new());
                        keys.len() - 1
                    }
                };
                members[group].push(target.clone());
                rows.push(Row {
                    target: target.clone(),
                    ok: f.exit_code == Some(0) && !f.timed_out,
                    exit_code: f.exit_code,
                    signal: f.signal,
                    timed_out: f.timed_out,
                    duration_ms: f.duration_ms,
                    group: Some(group),
                    output_id: (!f.output_id.is_empty()).then_some(f.output_id),
                    error_type: None,
                    error: None,
                });
            }
            Answer::Failed {
                error_type,
                message,
            } => rows.push(Row {
                target: target.clone(),
                ok: false,
                exit_code: None,
                signal: None,
                timed_out: false,
                duration_ms: 0,
                group: None,
                output_id: None,
                error_type: Some(error_type),
                error: Some(message),
            }),
        }
    }
    let ok_count = rows.iter().filter(|r| r.ok).count();
    let mut result = ExecManyResult {
        ok: ok_count == rows.len(),
        command,
        ok_count,
        failed_count: rows.len() - ok_count,
        results: rows,
        groups: Vec::new(),
        unmatched,
    };
    // What the result takes without the groups' outputs; the rest is shared among the groups.
    let skeleton: Vec<Group> = members
        .iter()
        .zip(&firsts)
        .map(|(targets, f)| empty_group(targets.clone(), f.exit_code))
        .collect();
    result.groups = skeleton;
    let overhead = budget::text_chars(&serde_json::to_string(&result).unwrap_or_default());
    let room = (budget_chars as usize).saturating_sub(overhead);
    let share = room / firsts.len().max(1);
    for (group, f) in result.groups.iter_mut().zip(firsts) {
        let streams = [
            budget::StreamIn {
                name: "stdout",
                bytes: f.stdout,
                cut_at: f.stdout_cut_at.map(|c| c as usize),
                total: f.stdout_bytes,
            },
            budget::StreamIn {
                name: "stderr",
                bytes: f.stderr,
                cut_at: f.stderr_cut_at.map(|c| c as usize),
                total: f.stderr_bytes,
            },
        ];
        let at = budget::Where {
            output_id: (!f.output_id.is_empty()).then_some(f.output_id.as_str()),
        };
        let [out, err] = budget::fit([&streams[0], &streams[1]], share, at);
        group.stdout = out.text;
        group.stdout_base64 = out.base64;
        group.stdout_truncated = out.truncated;
        group.stderr = err.text;
        group.stderr_base64 = err.base64;
        group.stderr_truncated = err.truncated;
    }
    result
}

fn empty_group(targets: Vec<String>, exit_code: Option<i32>) -> Group {
    Group {
        targets,
        exit_code,
        stdout: String::new(),
        stderr: String::new(),
        stdout_truncated: false,
        stderr_truncated: false,
        stdout_base64: None,
        stderr_base64: None,
    }
}

/// A glob over host names: `*` and `?`, any case (as ssh_hosts' filter).
fn glob_matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (
        pattern.to_lowercase().chars().collect(),
        name.to_lowercase().chars().collect(),
    );
    let (mut pi, mut ni, mut star) = (0, 0, None);
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(c) if *c == '?' || *c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Awaits every future concurrently; their outputs in order.
async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut running: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = running.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, fut) in out.iter_mut().zip(running.iter_mut()) {
            if slot.is_none() {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

// One command on many hosts; the MCP entry is written out (not `mcp_entry!`) because the call
// is many daemon calls, not one.
#[tool_router(router = ssh_exec_many_router, vis = "pub(crate)")]
impl SshMcp {
    #[tool(
        name = "ssh_exec_many",
        description = "Run one command on many hosts in parallel. Identical answers are grouped once; each row says ok or why not.",
        title = "Run a command on many hosts",
        output_schema = schema_for_output::<ExecManyResult>(),
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = true)
    )]
    async fn ssh_exec_many(
        &self,
        Parameters(args): Parameters<ExecManyArgs>,
        RequestState(state): RequestState,
        InputResponses(responses): InputResponses,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let call = Call {
            tool: "ssh_exec_many",
            resumed: Resumed::of(state, responses),
        };
        self.call_exec_many(call, args, ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(stdout: &str, code: i32) -> Answer {
        Answer::Finished(pb::Finished {
            exit_code: Some(code),
            stdout: stdout.as_bytes().to_vec(),
            stdout_bytes: stdout.len() as u64,
            ..Default::default()
        })
    }

    #[test]
    fn identical_answers_are_one_group_and_failures_have_none() {
        let targets: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let answers = vec![
            finished("same\n", 0),
            finished("same\n", 0),
            finished("same\n", 1),
            Answer::Failed {
                error_type: "connection_error".into(),
                message: "ssh: connect to host d port 22: Connection refused".into(),
            },
        ];
        let r = assemble("cmd".into(), &targets, answers, vec![], 50_000);
        assert_eq!((r.ok_count, r.failed_count, r.ok), (2, 2, false));
        assert_eq!(r.groups.len(), 2);
        assert_eq!(r.groups[0].targets, ["a", "b"]);
        assert_eq!(r.groups[1].targets, ["c"]);
        assert_eq!(r.results[3].group, None);
        assert_eq!(r.results[2].group, Some(1));
        assert!(r.results[3].error.as_deref().unwrap().contains("refused"));
    }

    #[test]
    fn many_different_answers_share_the_budget() {
        let targets: Vec<String> = (0..20).map(|i| format!("h{i}")).collect();
        let answers = (0..20)
            .map(|i| finished(&format!("{i}").repeat(10_000), 0))
            .collect();
        let r = assemble("cmd".into(), &targets, answers, vec![], 50_000);
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.encode_utf16().count() <= 50_000, "{}", text.len());
        assert!(r.groups.iter().all(|g| g.stdout_truncated));
    }

    #[test]
    fn globs_match_names_in_any_case() {
        assert!(glob_matches("web*", "WEB1"));
        assert!(glob_matches("h0?", "h01"));
        assert!(!glob_matches("h0?", "h010"));
        assert!(glob_matches("*", "anything"));
    }
}
