//! Benchmark 3, shim start-up: with the daemon already up, spawn `ssh-mcp`, write `initialize`
//! and time until its answer line is read — what an MCP client waits for before anything else.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde_json::json;

use crate::env::BenchEnv;
use crate::mcp_client::initialize_params;
use crate::plan::Plan;
use crate::report::{Figure, Goal, Samples, Section};

const WARMUP: usize = 3;
const TARGET_MS: f64 = 15.0;

/// One spawn → initialize answer, in a fresh shim process.
fn once(env: &BenchEnv) -> anyhow::Result<Duration> {
    let mut line = serde_json::to_vec(
        &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": initialize_params()}),
    )?;
    line.push(b'\n');
    let started = Instant::now();
    let mut cmd = Command::new(&env.shim);
    env.apply_std(&mut cmd);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(env.shim_log()?))
        .spawn()
        .context("spawning the shim")?;
    let mut stdin = child.stdin.take().context("shim stdin")?;
    stdin.write_all(&line)?;
    stdin.flush()?;
    let mut answer = String::new();
    BufReader::new(child.stdout.take().context("shim stdout")?).read_line(&mut answer)?;
    let took = started.elapsed();
    drop(stdin);
    reap(&mut child)?;
    ensure!(
        answer.contains("\"result\"") && answer.contains("\"id\":1"),
        "unexpected initialize answer: {answer}"
    );
    Ok(took)
}

/// Waits for a shim whose stdin is closed to exit; kills it after 5 s.
fn reap(child: &mut Child) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            eprintln!("bench: a shim did not exit 5 s after stdin closed; killing it");
            child.kill()?;
            child.wait()?;
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

pub fn run(plan: &Plan, env: &BenchEnv) -> anyhow::Result<Section> {
    let (runs, check) = (plan.startup_runs, plan.check);
    for _ in 0..WARMUP {
        once(env)?;
    }
    let mut samples = Samples::default();
    for _ in 0..runs {
        samples.push(once(env)?);
    }
    let median = samples.median();
    Ok(Section {
        title: "4. Shim start-up".into(),
        method: format!(
            "With the daemon already running, {runs} times (after {WARMUP} untimed): spawn the \
             `ssh-mcp` binary, write the `initialize` request, and time from spawn to the answer \
             line being read. Each shim is reaped (stdin closed) before the next starts."
        ),
        figures: vec![Figure::timing(
            "shim spawn → initialize answer",
            &samples,
            &check.text(Goal::Below(TARGET_MS), " ms"),
            Some(check.met(Goal::Below(TARGET_MS), median)),
        )],
        notes: Vec::new(),
    })
}
