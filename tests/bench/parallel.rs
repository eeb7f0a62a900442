//! Benchmark 2, concurrency: twenty `sleep 0.5` at once through one shim session against the
//! same twenty bare `ssh` spread over two ControlMasters the bench owns (10 each: sshd's
//! MaxSessions default), interleaved, wall time from the first start to the last answer.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::bare::{self, Master};
use crate::daemon;
use crate::env::BenchEnv;
use crate::mcp_client::McpClient;
use crate::plan::Plan;
use crate::report::{Figure, Goal, Samples, Section};

pub const PARALLEL: usize = 20;
const MAX_SHIM_OVER_BARE: f64 = 1.25;

/// Twenty concurrent `ssh_exec sleep 0.5`: wall time and the failures.
async fn shim_round(client: &mut McpClient) -> anyhow::Result<(Duration, Vec<String>)> {
    let args = json!({"target": "testhost", "command": "sleep 0.5"});
    let started = Instant::now();
    let mut calls = Vec::with_capacity(PARALLEL);
    for _ in 0..PARALLEL {
        calls.push(client.exec(args.clone()).await?);
    }
    let mut last = started;
    let mut failures = Vec::new();
    for call in calls {
        let reply = call.await?;
        last = last.max(reply.read_at);
        match crate::mcp_client::ExecResult::from_message(&reply.message) {
            Ok(r) if r.ok => {}
            Ok(r) => failures.push(r.failure()),
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    Ok((last - started, failures))
}

pub async fn run(
    plan: &Plan,
    env: &BenchEnv,
    client: &mut McpClient,
    masters: &[Master; 2],
) -> anyhow::Result<Section> {
    let argvs: Vec<Vec<String>> = (0..PARALLEL)
        .map(|i| masters[i % 2].command("sleep 0.5"))
        .collect();
    // One untimed round of each first: the daemon opens the extra masters it needs here.
    let (cold, cold_failures) = shim_round(client).await?;
    let (bare_cold, _) = bare::run_parallel(&argvs).await?;

    let (mut shim, mut bare_s) = (Samples::default(), Samples::default());
    let mut shim_failures = Vec::new();
    let mut bare_failures = Vec::new();
    let (repeats, check) = (plan.parallel_repeats, plan.check);
    for rep in 0..repeats {
        for first in [rep % 2 == 0, rep % 2 == 1] {
            if first {
                let (took, f) = shim_round(client).await?;
                shim.push(took);
                shim_failures.extend(f);
            } else {
                let (took, f) = bare::run_parallel(&argvs).await?;
                bare_s.push(took);
                bare_failures.extend(f);
            }
        }
    }
    let ratio = shim.median() / bare_s.median();
    let daemon_masters = daemon::status(env)?
        .and_then(|s| daemon::status_line(&s, "masters"))
        .unwrap_or_else(|| "unknown".into());
    let describe = |f: &[String]| {
        if f.is_empty() {
            "none".to_owned()
        } else {
            format!("{} — first: {}", f.len(), f[0])
        }
    };
    Ok(Section {
        title: "2. Twenty parallel `sleep 0.5`".into(),
        method: format!(
            "{PARALLEL} `ssh_exec` calls of `sleep 0.5` written at once on one MCP session \
             (first request written → last response read) against the same {PARALLEL} bare \
             `ssh -S <ctlpath> -o ControlMaster=no testhost 'sleep 0.5'` started at once (first \
             spawn → last exit) over **2 ControlMasters the bench opened, 10 commands on each** \
             (sshd's default MaxSessions is 10). The daemon lends at most 9 channels per master \
             (one kept for stopping commands), so it needs 3 masters for the 20. One untimed \
             round of each first, then {repeats} timed rounds, alternating which kind goes first."
        ),
        figures: vec![
            Figure::timing("20 × `sleep 0.5` via shim", &shim, "", None),
            Figure::timing("20 × `sleep 0.5` bare over 2 masters", &bare_s, "", None),
            Figure::value(
                "shim / bare, parallel (ratio of medians)",
                format!("{ratio:.2}×"),
                format!("{} / {}", shim.len(), bare_s.len()),
                &format!(
                    "{}, all ok",
                    check.text(Goal::AtMost(MAX_SHIM_OVER_BARE), "×")
                ),
                Some(
                    check.met(Goal::AtMost(MAX_SHIM_OVER_BARE), ratio) && shim_failures.is_empty(),
                ),
            ),
        ],
        notes: vec![
            format!("`ssh-mcp daemon status` afterwards: masters: {daemon_masters}."),
            format!(
                "Failed shim calls in the timed rounds (ok false): {} of {}.",
                describe(&shim_failures),
                PARALLEL * repeats
            ),
            format!(
                "Failed bare ssh in the timed rounds: {}.",
                describe(&bare_failures)
            ),
            format!(
                "Untimed first round: shim {:.0} ms (the daemon opened its 2nd and 3rd master \
                 here; failures: {}), bare {:.0} ms.",
                cold.as_secs_f64() * 1000.0,
                describe(&cold_failures),
                bare_cold.as_secs_f64() * 1000.0
            ),
        ],
    })
}
