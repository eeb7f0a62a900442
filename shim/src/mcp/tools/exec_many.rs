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
use serde::Deserialize;
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

mod answers;

use answers::{Answer, ExecManyResult, assemble, failure_of};

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

    #[test]
    fn globs_match_names_in_any_case() {
        assert!(glob_matches("web*", "WEB1"));
        assert!(glob_matches("h0?", "h01"));
        assert!(!glob_matches("h0?", "h010"));
        assert!(glob_matches("*", "anything"));
    }
}
