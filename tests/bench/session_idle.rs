//! Benchmark 7, many idle sessions: a fresh daemon, a hundred `/bin/sh` sessions opened at once
//! through one MCP session (the daemon spreads them over the ControlMasters it opens, sshd's
//! MaxStartups permitting), the daemon's own resident set with them open, a check that every
//! shell answers, and all of them stopped at once, all on one target.

use std::time::{Duration, Instant};

use anyhow::ensure;
use serde_json::json;

use crate::daemon;
use crate::env::BenchEnv;
use crate::mcp_client::{McpClient, Reply, structured};
use crate::plan::Plan;
use crate::report::{Figure, Goal, Section};
use crate::session_tools::{self, clip, flag, number, text};

const MAX_RSS_MIB: f64 = 100.0;
/// One target: the daemon opens up to 16 masters per target (`MAX_MASTERS_PER_HOST`) and lends 9
/// channels of each, and a session holds its channel for life.
const TARGETS: [&str; 1] = [session_tools::TARGET];
/// Calls of a batch not answered by then count as failed (the bench reports, not hangs).
const BATCH_DEADLINE: Duration = Duration::from_secs(60);

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// The outcome of calls written at once: wall time from the first request to the last reply, the
/// structured results that succeeded and the first failures.
struct Batch {
    took: Duration,
    results: Vec<serde_json::Value>,
    failures: Vec<String>,
}

impl Batch {
    fn failures_text(&self) -> String {
        match self.failures.first() {
            None => "none".into(),
            Some(first) => format!("{} — first: {first}", self.failures.len()),
        }
    }
}

/// Writes one call per argument set at once, then collects the replies.
async fn batch(
    client: &mut McpClient,
    tool: &str,
    arguments: Vec<serde_json::Value>,
) -> anyhow::Result<Batch> {
    let started = Instant::now();
    let mut calls = Vec::with_capacity(arguments.len());
    for a in arguments {
        calls.push(client.call(tool, a).await?);
    }
    let deadline = tokio::time::Instant::from_std(started + BATCH_DEADLINE);
    let (mut last, mut results, mut failures) = (started, Vec::new(), Vec::new());
    for call in calls {
        let Ok(reply) = tokio::time::timeout_at(deadline, call).await else {
            failures.push(format!("no answer within {BATCH_DEADLINE:?}"));
            continue;
        };
        let Reply { message, read_at } = reply?;
        last = last.max(read_at);
        match structured(tool, &message) {
            Ok(v) => results.push(v),
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    Ok(Batch {
        took: last - started,
        results,
        failures,
    })
}

pub async fn run(plan: &Plan, env: &BenchEnv) -> anyhow::Result<Section> {
    let check = plan.check;
    let n = plan.idle_sessions;
    let (mut client, old) = session_tools::restart_daemon(env).await?;
    // A first call autostarts the daemon; no session and no master yet.
    let (l, _) = client
        .call_timed("ssh_list_sessions", json!({"include_exited": false}))
        .await?;
    ensure!(number(&l, "count")? == 0, "sessions left: {}", clip(&l));
    let pid = session_tools::new_daemon_pid(env, old)?;
    let rss_empty = daemon::status_kb(pid, "VmRSS")?;

    // Each start waits (up to 2 s) for the shell's first prompt to settle.
    let opened = batch(
        &mut client,
        "ssh_start_session",
        (0..n)
            .map(|i| session_tools::start_args(TARGETS[i % TARGETS.len()], 2.0))
            .collect(),
    )
    .await?;
    let ids: Vec<String> = opened
        .results
        .iter()
        .filter(|s| flag(s, "running"))
        .filter_map(|s| Some(text(s, "session_id").ok()?.to_owned()))
        .collect();
    let (l, _) = client
        .call_timed("ssh_list_sessions", json!({"include_exited": false}))
        .await?;
    let listed = number(&l, "count")?;
    let rss = daemon::status_kb(pid, "VmRSS")?;
    let masters = daemon::status(env)?
        .and_then(|s| daemon::status_line(&s, "masters"))
        .unwrap_or_else(|| "unknown".into());

    // Every shell answers (after the memory was read: they were idle until then).
    let mut answering = 0;
    let mut silent = Vec::new();
    for (i, sid) in ids.iter().enumerate() {
        let r = client
            .call_timed(
                "ssh_run_in_session",
                json!({"session_id": sid, "command": format!("echo $((3000+{i}))")}),
            )
            .await;
        match r {
            Ok((r, _)) if text(&r, "output").ok() == Some(&format!("{}\n", 3000 + i)) => {
                answering += 1
            }
            Ok((r, _)) => silent.push(clip(&r)),
            Err(e) => silent.push(format!("{e:#}")),
        }
    }

    let stopped = batch(
        &mut client,
        "ssh_stop_session",
        ids.iter().map(|sid| json!({"session_id": sid})).collect(),
    )
    .await?;
    let still_running = stopped
        .results
        .iter()
        .filter(|s| flag(s, "running"))
        .count();
    let (l, _) = client
        .call_timed("ssh_list_sessions", json!({"include_exited": false}))
        .await?;
    let left = number(&l, "count")?;
    client.close().await?;

    let all_well = ids.len() == n && listed == n as u64 && answering == n && left == 0;
    let rss_mib = rss as f64 / 1024.0;
    let secs = |d: Duration| d.as_secs_f64();
    Ok(Section {
        title: format!("8. {n} idle sessions"),
        method: format!(
            "The daemon is stopped and a new MCP session autostarts a fresh one. {n} \
             `ssh_start_session` calls (`/bin/sh`, as in 5; wait_seconds 2, so each returns once \
             its shell's first prompt has settled) are written at once on one MCP session. A \
             session holds a channel of a ControlMaster for its life; the daemon lends at most 9 \
             channels of each master and opens up to 16 masters per target, so all {n} go to \
             `testhost`: the daemon opens about {} masters for them, at most 2 authenticating at \
             once (sshd's MaxStartups is 10:30:100). With all of \
             them open and idle, VmRSS of the daemon process \
             is read from /proc (its own resident set: the ssh processes, masters included, are \
             not counted). Then every session runs `echo $((3000+i))` through \
             `ssh_run_in_session` to show its shell answers, and {n} `ssh_stop_session` calls are \
             written at once. The quick run (`--quick`) opens {} sessions instead.",
            n.div_ceil(9),
            Plan::QUICK.idle_sessions
        ),
        figures: vec![
            Figure::value(
                &format!("{n} idle sessions: daemon VmRSS"),
                mib(rss),
                "1".into(),
                &check.text(Goal::Below(MAX_RSS_MIB), " MiB"),
                Some(check.met(Goal::Below(MAX_RSS_MIB), rss_mib)),
            ),
            Figure::value(
                &format!("{n} sessions: opened, listed, answering, left after stop"),
                format!("{}, {listed}, {answering}, {left}", ids.len()),
                "1".into(),
                &format!("{n}, {n}, {n}, 0"),
                Some(all_well),
            ),
            Figure::value(
                &format!("{n} sessions: time to open them all; to stop them all (context)"),
                format!("{:.2} s; {:.2} s", secs(opened.took), secs(stopped.took)),
                "1".into(),
                "",
                None,
            ),
        ],
        notes: vec![
            format!(
                "Daemon VmRSS before any session (no master yet): {}; with the {n} sessions: {}.",
                mib(rss_empty),
                mib(rss)
            ),
            format!("`ssh-mcp daemon status` with the sessions open: masters: {masters}."),
            format!("Failed starts: {}.", opened.failures_text()),
            format!(
                "Sessions whose shell did not answer `echo`: {}{}.",
                silent.len(),
                silent
                    .first()
                    .map_or(String::new(), |s| format!(" — first: {s}"))
            ),
            format!(
                "Failed stops: {}; still running after their stop: {still_running}.",
                stopped.failures_text()
            ),
        ],
    })
}
