//! Benchmark 13, fan-out: `ssh_exec_many` of `sleep 1` on twenty hosts (testhost and nineteen
//! aliases of it added to the bench's ssh config, each its own connection) against twenty bare
//! `ssh` over twenty ControlMasters started in parallel from the bench, wall time each.

use std::time::{Duration, Instant};

use anyhow::ensure;
use serde_json::json;

use crate::bare::{self, Master};
use crate::env::BenchEnv;
use crate::mcp_client::{McpClient, structured};
use crate::plan::Plan;
use crate::report::{Figure, Goal, Samples, Section};

const HOSTS: usize = 20;
const MAX_MANY_OVER_BARE: f64 = 1.2;
const COMMAND: &str = "sleep 1";

/// Adds `Host fanNN` copies of the config's `Host testhost` block; the twenty targets.
fn add_aliases(env: &BenchEnv) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(&env.ssh_config)?;
    let block: Vec<&str> = text
        .lines()
        .skip_while(|l| l.trim() != "Host testhost")
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with("Host "))
        .collect();
    ensure!(
        !block.is_empty(),
        "no Host testhost block in {}",
        env.ssh_config.display()
    );
    let mut more = String::new();
    let mut targets = vec!["testhost".to_owned()];
    for i in 1..HOSTS {
        let name = format!("fan{i:02}");
        more.push_str(&format!("\nHost {name}\n{}\n", block.join("\n")));
        targets.push(name);
    }
    if !text.contains("Host fan01") {
        std::fs::write(&env.ssh_config, format!("{text}{more}"))?;
    }
    Ok(targets)
}

async fn many(
    client: &mut McpClient,
    targets: &[String],
    parallelism: usize,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let reply = client
        .call(
            "ssh_exec_many",
            json!({"targets": targets, "command": COMMAND, "parallelism": parallelism}),
        )
        .await?
        .await?;
    let took = reply.read_at - started;
    let r = structured("ssh_exec_many", &reply.message)?;
    ensure!(
        r["ok_count"] == HOSTS,
        "ssh_exec_many: {} of {HOSTS} ok: {}",
        r["ok_count"],
        r["results"]
    );
    Ok(took)
}

pub async fn run(plan: &Plan, env: &BenchEnv) -> anyhow::Result<Section> {
    let check = plan.check;
    let targets = add_aliases(env)?;
    let masters: Vec<Master> = (0..HOSTS)
        .map(|i| Master::start(&env.ssh_config, env.cm_dir.join(format!("fan{i}"))))
        .collect::<anyhow::Result<_>>()?;
    let argvs: Vec<Vec<String>> = masters.iter().map(|m| m.command(COMMAND)).collect();
    let mut client = McpClient::connect(env, &env.shim).await?;
    // Untimed first: the daemon opens a master per target, all twenty asked for at once; the
    // pool lets eight authenticate against the one sshd at a time (its MaxStartups, 10:30:100,
    // drops some of more unauthenticated connections).
    let cold = many(&mut client, &targets, HOSTS).await?;
    let rounds = if plan.quick { 2 } else { 5 };
    let (mut ours, mut bare_s) = (Samples::default(), Samples::default());
    for _ in 0..rounds {
        ours.push(many(&mut client, &targets, HOSTS).await?);
        let (took, failures) = bare::run_parallel(&argvs).await?;
        ensure!(failures.is_empty(), "bare ssh failed: {failures:?}");
        bare_s.push(took);
    }
    client.close().await?;
    let ratio = ours.median() / bare_s.median().max(1e-9);
    Ok(Section {
        title: "13. Fan-out: one command on twenty hosts".into(),
        method: format!(
            "The bench's ssh config gets nineteen aliases of testhost (fan01..fan19), so twenty \
             targets each have their own connection. `ssh_exec_many` of `{COMMAND}` on all twenty \
             with parallelism 20 (after one untimed call, also with parallelism 20, that opens the \
             daemon's masters), \
             against twenty bare `ssh -S` over twenty ControlMasters the bench starts, run in \
             parallel; wall time from the request (or the first spawn) to the answer (or the \
             last exit), {rounds} rounds of each, alternating."
        ),
        figures: vec![
            Figure::value(
                "ssh_exec_many on 20 hosts / 20 bare ssh in parallel (ratio of medians)",
                format!("{ratio:.2}×"),
                format!("{rounds} / {rounds}"),
                &check.text(Goal::AtMost(MAX_MANY_OVER_BARE), "×"),
                Some(check.met(Goal::AtMost(MAX_MANY_OVER_BARE), ratio)),
            ),
            Figure::value(
                "ssh_exec_many, bare (medians, context)",
                format!("{:.0} ms; {:.0} ms", ours.median(), bare_s.median()),
                "1".into(),
                "",
                None,
            ),
        ],
        notes: vec![format!(
            "The first call, which opened twenty masters (the pool lets eight authenticate against \
             one sshd at a time): {:.0} ms.",
            cold.as_secs_f64() * 1000.0
        )],
    })
}
