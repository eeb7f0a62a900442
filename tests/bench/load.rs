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

/// Fifty clients, `calls` each: the wall time and the failures.
async fn shim_round(clients: &mut [McpClient], calls: usize) -> anyhow::Result<(Duration, usize)> {
    let started = Instant::now();
    let mut loops = Vec::with_capacity(clients.len());
    for client in clients.iter_mut() {
        loops.push(async move {
            let mut failures = 0;
            for _ in 0..calls {
                let reply = client
                    .exec(json!({"target": "testhost", "command": "true"}))
                    .await?
                    .await?;
                match ExecResult::from_message(&reply.message) {
                    Ok(r) if r.ok => {}
                    _ => failures += 1,
                }
            }
            anyhow::Ok(failures)
        });
    }
    let results = futures_join_all(loops).await;
    let mut failures = 0;
    for r in results {
        failures += r?;
    }
    Ok((started.elapsed(), failures))
}

/// Fifty loops of `calls` bare `ssh … true` each, spread over `masters`: wall time and failures.
async fn bare_round(masters: &[Master], calls: usize) -> anyhow::Result<(Duration, usize)> {
    let started = Instant::now();
    let mut loops = Vec::with_capacity(CLIENTS);
    for i in 0..CLIENTS {
        let argv = masters[i / PER_MASTER].command("true");
        loops.push(async move {
            let mut failures = 0;
            for _ in 0..calls {
                let status = tokio::process::Command::new("ssh")
                    .args(&argv)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
                    .await?;
                if !status.success() {
                    failures += 1;
                }
            }
            anyhow::Ok(failures)
        });
    }
    let results = futures_join_all(loops).await;
    let mut failures = 0;
    for r in results {
        failures += r?;
    }
    Ok((started.elapsed(), failures))
}

/// Awaits every future, concurrently, in order (tokio alone has no join_all).
async fn futures_join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in pinned.iter_mut().zip(done.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
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
    done.into_iter().flatten().collect()
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
    shim_round(&mut clients, 2).await?;
    bare_round(&masters, 2).await?;
    let (mut shim, mut bare) = (Samples::default(), Samples::default());
    let (mut shim_failures, mut bare_failures) = (0, 0);
    for rep in 0..plan.load_rounds {
        for shim_first in [rep % 2 == 0, rep % 2 == 1] {
            if shim_first {
                let (took, f) = shim_round(&mut clients, calls).await?;
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
    let shim_rate = total / shim.median();
    let bare_rate = total / bare.median();
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
