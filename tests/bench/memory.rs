//! Benchmark 4, memory under a flood of output: a freshly started daemon runs `ssh_exec` of a
//! command that prints 300 MB (default max_output_bytes) and the bench reads the daemon's peak
//! RSS (VmHWM) before and after, and checks the result says what was left out.

use std::time::Duration;

use anyhow::{Context, ensure};
use serde_json::json;

use crate::bare::{self, Master};
use crate::daemon;
use crate::env::BenchEnv;
use crate::mcp_client::McpClient;
use crate::plan::Plan;
use crate::report::{Figure, Goal, Section};

const BYTES: u64 = 300_000_000;
const TARGET_MIB: f64 = 64.0;

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

pub async fn run(plan: &Plan, env: &BenchEnv, master: &Master) -> anyhow::Result<Section> {
    let check = plan.check;
    let old = daemon::pid(env)?;
    daemon::stop(env)?;
    ensure!(
        daemon::pid(env)?.is_none(),
        "the daemon still answers after stop"
    );
    // A new MCP session autostarts a fresh daemon, whose VmHWM then covers only this benchmark.
    let mut client = McpClient::connect(env, &env.shim).await?;
    let (warm, _) = client
        .exec_timed(json!({"target": "testhost", "command": "true"}))
        .await?;
    ensure!(warm.ok, "ssh_exec true failed: {}", warm.failure());
    let pid = daemon::pid(env)?.context("no daemon after the first call")?;
    ensure!(Some(pid) != old, "the daemon was not restarted (pid {pid})");
    let hwm_before = daemon::status_kb(pid, "VmHWM")?;

    let command = format!("head -c {BYTES} /dev/zero");
    let (r, took) = client
        .exec_timed(json!({"target": "testhost", "command": command}))
        .await?;
    let hwm = daemon::status_kb(pid, "VmHWM")?;
    let rss_after = daemon::status_kb(pid, "VmRSS")?;
    client.close().await?;
    let bare_took = bare::run_timed(&master.command(&command))?;

    let complete = r.ok && r.stdout_truncated && r.stdout_bytes == BYTES;
    let mb_per_s = BYTES as f64 / 1e6 / took.as_secs_f64().max(1e-9);
    Ok(Section {
        title: "5. Daemon memory while a command prints 300 MB".into(),
        method: format!(
            "The daemon is stopped and a new MCP session autostarts a fresh one; one `ssh_exec \
             true` brings its ControlMaster up; then `ssh_exec` of `{command}` with the default \
             max_output_bytes (1 MiB kept of each stream). VmHWM (peak resident set) is read \
             from /proc/<daemon pid>/status before and after. For context, the same command \
             then runs as bare ssh over one of the bench's ControlMasters with stdout on \
             /dev/null."
        ),
        figures: vec![
            Figure::value(
                "daemon VmHWM after 300 MB of stdout",
                mib(hwm),
                "1".into(),
                &check.text(Goal::Below(TARGET_MIB), " MiB"),
                Some(check.met(Goal::Below(TARGET_MIB), hwm as f64 / 1024.0)),
            ),
            Figure::value(
                "300 MB result: ok, stdout_truncated, stdout_bytes",
                format!("{}, {}, {}", r.ok, r.stdout_truncated, r.stdout_bytes),
                "1".into(),
                &format!("true, true, {BYTES}"),
                Some(complete),
            ),
            Figure::value(
                "300 MB call, request → response",
                format!("{:.0} ms ({mb_per_s:.0} MB/s)", ms(took)),
                "1".into(),
                "",
                None,
            ),
            Figure::value(
                "300 MB, bare ssh over ControlMaster to /dev/null (context)",
                format!(
                    "{:.0} ms ({:.0} MB/s)",
                    ms(bare_took),
                    BYTES as f64 / 1e6 / bare_took.as_secs_f64().max(1e-9)
                ),
                "1".into(),
                "",
                None,
            ),
        ],
        notes: vec![
            format!(
                "VmHWM after the warm-up `true` (daemon + one master up): {}; VmRSS after the \
                 300 MB call: {}.",
                mib(hwm_before),
                mib(rss_after)
            ),
            format!(
                "duration_ms reported by the daemon: {} ms; exit_code {}.",
                r.duration_ms,
                r.exit_code.map_or("null".into(), |c| c.to_string())
            ),
        ],
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
