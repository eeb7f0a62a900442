//! Benchmark 11, load: fifty MCP clients at once, each its own shim process, each making twenty
//! `ssh_exec true` calls one after another, against fifty bare `ssh` loops doing the same over
//! ControlMasters the bench opened (enough of them for fifty channels at sshd's default
//! MaxSessions of 10). Calls per second of each, their ratio, and the daemon's peak memory.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use crate::bare::Master;
use crate::daemon;
use crate::env::BenchEnv;
use crate::mcp_client::{ExecResult, McpClient};
use crate::plan::Plan;
use crate::report::{Figure, Goal, Samples, Section};

pub const CLIENTS: usize = 50;
/// Bare ssh over a master: sessions per master (sshd's MaxSessions default is 10).
const PER_MASTER: usize = 10;
const MAX_SHIM_OVER_BARE: f64 = 1.2;

/// Fifty clients, `calls` each: the wall time and the failures. Each client moves into its own
/// task and comes back with its count.
async fn shim_round(
    clients: Vec<McpClient>,
    calls: usize,
) -> anyhow::Result<(Duration, usize, Vec<McpClient>)> {
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move {
                let mut failures = 0;
                for _ in 0..calls {
                    let reply = client
                        .exec(json!({"target": "testhost", "command": "true"}))
                        .await?
                        .await?;
                    if !ExecResult::from_message(&reply.message).is_ok_and(|r| r.ok) {
                        failures += 1;
                    }
                }
                anyhow::Ok((client, failures))
            })
        })
        .collect();
    let (mut clients, mut failures) = (Vec::with_capacity(tasks.len()), 0);
    for task in tasks {
        let (client, f) = task.await??;
        clients.push(client);
        failures += f;
    }
    Ok((started.elapsed(), failures, clients))
}

/// Fifty loops of `calls` bare `ssh … true` each, spread over `masters`: wall time and failures.
async fn bare_round(masters: &[Master], calls: usize) -> anyhow::Result<(Duration, usize)> {
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let argv = masters[i / PER_MASTER].command("true");
            tokio::spawn(async move {
                let mut failures = 0;
                for _ in 0..calls {
                    let status = tokio::process::Command::new("ssh")
                        .args(&argv)
                        .stdin(std::process::Stdio::null())
                        .stdout(std::process::Stdio::null())
                        .stderr(std::process::Stdio::null())
                        .status()
                        .await?;
                    failures += usize::from(!status.success());
                }
                anyhow::Ok(failures)
            })
        })
        .collect();
    let mut failures = 0;
    for task in tasks {
        failures += task.await??;
    }
    Ok((started.elapsed(), failures))
}

pub async fn run(plan: &Plan, env: &BenchEnv) -> anyhow::Result<Section> {
    let masters: Vec<Master> = (0..CLIENTS.div_ceil(PER_MASTER))
        .map(|i| Master::start(&env.ssh_config, env.cm_dir.join(format!("load-{i}"))))
        .collect::<anyhow::Result<_>>()?;
    let mut clients = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        clients.push(McpClient::connect(env, &env.shim).await?);
    }
    let calls = plan.load_calls;
    // One untimed round of each: the daemon opens the masters fifty channels need.
    let (_, _, mut clients) = shim_round(clients, 2).await?;
    bare_round(&masters, 2).await?;
    let (mut shim, mut bare) = (Samples::default(), Samples::default());
    let (mut shim_failures, mut bare_failures) = (0, 0);
    for rep in 0..plan.load_rounds {
        for shim_first in [rep % 2 == 0, rep % 2 == 1] {
            if shim_first {
                let (took, f, back) = shim_round(clients, calls).await?;
                clients = back;
                shim.push(took);
                shim_failures += f;
            } else {
                let (took, f) = bare_round(&masters, calls).await?;
                bare.push(took);
                bare_failures += f;
            }
        }
    }
    let pid = daemon::pid(env)?.context("the daemon answers after the load")?;
    let peak = daemon::status_kb(pid, "VmHWM")?;
    for client in clients {
        client.close().await?;
    }
    let total = (CLIENTS * calls) as f64;
    // Samples are in milliseconds.
    let shim_rate = total / (shim.median() / 1000.0);
    let bare_rate = total / (bare.median() / 1000.0);
    let ratio = shim.median() / bare.median();
    let check = plan.check;
    Ok(Section {
        title: "11. Fifty clients at once".into(),
        method: format!(
            "{CLIENTS} MCP clients, each its own shim process, each writing {calls} `ssh_exec` calls \
             of `true` one after another (request written → response read), all clients at once; \
             against {CLIENTS} loops of {calls} bare `ssh -S <ctlpath> -o ControlMaster=no testhost \
             true` at once over {} ControlMasters the bench opened ({PER_MASTER} loops on each: \
             sshd's default MaxSessions). One untimed round of each first, then {} timed rounds, \
             alternating which kind goes first; time per round from the first call to the last \
             answer.",
            masters.len(),
            plan.load_rounds
        ),
        figures: vec![
            Figure::value(
                "50 clients: `ssh_exec true` calls per second via the shim",
                format!("{shim_rate:.0}/s"),
                format!("{}", shim.len()),
                "",
                None,
            ),
            Figure::value(
                "50 clients: bare ssh over masters, calls per second",
                format!("{bare_rate:.0}/s"),
                format!("{}", bare.len()),
                "",
                None,
            ),
            Figure::value(
                "50 clients: shim / bare, wall time (ratio of medians)",
                format!("{ratio:.2}×"),
                format!("{} / {}", shim.len(), bare.len()),
                &format!(
                    "{}, all ok",
                    check.text(Goal::AtMost(MAX_SHIM_OVER_BARE), "×")
                ),
                Some(check.met(Goal::AtMost(MAX_SHIM_OVER_BARE), ratio) && shim_failures == 0),
            ),
            Figure::value(
                "50 clients: daemon VmHWM",
                format!("{:.1} MiB", peak as f64 / 1024.0),
                "1".into(),
                "",
                None,
            ),
        ],
        notes: vec![format!(
            "Failed calls in the timed rounds: shim {shim_failures}, bare {bare_failures} of {} each.",
            CLIENTS * calls * plan.load_rounds
        )],
    })
}
