//! Benchmark 12, crash recovery: the daemon is killed (SIGKILL) while an `ssh_exec` of a `sleep`
//! runs; the next MCP client autostarts a new daemon, which ends the command the dead one left
//! on the host. Timed from the new client's start to the remote `sleep` being gone (the bench's
//! sshd runs on this machine, so /proc shows the remote processes).

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde_json::json;

use crate::daemon;
use crate::env::BenchEnv;
use crate::mcp_client::McpClient;
use crate::plan::Plan;
use crate::report::{Figure, Goal, Section};

/// The new daemon must have ended the orphan within this (it takes about a second here).
const MAX_END_MS: f64 = 5000.0;
const LIMIT: Duration = Duration::from_secs(60);

fn pids_running(needle: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmd)
                .replace('\0', " ")
                .contains(needle)
                .then_some(pid)
        })
        .collect()
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) -> anyhow::Result<()> {
    let started = Instant::now();
    while !cond() {
        ensure!(started.elapsed() < LIMIT, "{what}: not within {LIMIT:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

pub async fn run(plan: &Plan, env: &BenchEnv) -> anyhow::Result<Section> {
    let mut client = McpClient::connect(env, &env.shim).await?;
    let sleep = format!("1000.{:08}", std::process::id() % 100_000_000);
    let call = client
        .exec(json!({"target": "testhost", "command": format!("sleep {sleep}")}))
        .await?;
    let journal = env.state_dir.join("running.journal");
    until(
        "the command's start and its journalled process group",
        || {
            !pids_running(&sleep).is_empty()
                && std::fs::read_to_string(&journal).is_ok_and(|t| t.contains("\"event\":\"pid\""))
        },
    )
    .await?;
    let pid = daemon::pid(env)?.context("the daemon runs")?;
    // SAFETY: kill has no memory preconditions; the pid is the bench's own daemon.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    until("the daemon's exit", || {
        daemon::pid(env).ok().flatten().is_none()
    })
    .await?;
    drop(call);
    drop(client);
    ensure!(
        !pids_running(&sleep).is_empty(),
        "the command ended with its daemon: nothing to measure"
    );
    let restarted = Instant::now();
    let client = McpClient::connect(env, &env.shim).await?;
    until("the orphan's end", || pids_running(&sleep).is_empty()).await?;
    let took = restarted.elapsed();
    client.close().await?;
    let ms = took.as_secs_f64() * 1000.0;
    let check = plan.check;
    Ok(Section {
        title: "12. A command left by a killed daemon".into(),
        method: "One `ssh_exec` of a bare `sleep` (which the login shell runs in place of \
                 itself, so no process of it names ssh-mcp); once it runs and the journal holds \
                 its process group, the daemon is killed with SIGKILL (the call fails, the `sleep` \
                 runs on). A new MCP client then autostarts a new daemon; time from that client's \
                 start to the `sleep` being gone from the host."
            .into(),
        figures: vec![Figure::value(
            "orphan: new client start → the killed daemon's command ended",
            format!("{ms:.0} ms"),
            "1".into(),
            &check.text(Goal::AtMost(MAX_END_MS), " ms"),
            Some(check.met(Goal::AtMost(MAX_END_MS), ms)),
        )],
        notes: vec![],
    })
}
