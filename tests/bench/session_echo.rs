//! Benchmark 5, a session's echo round trip: in one `/bin/sh` session, `ssh_run_in_session` of
//! `echo $((N))` (the call returns at the command's end mark: no settle time), the agent-typed
//! way with `settle_ms` 0 (`ssh_write_session`, then reads until the answer), and for context the
//! typed way with the daemon's default 75 ms settle time.

use std::time::Duration;

use anyhow::ensure;
use serde_json::json;

use crate::mcp_client::McpClient;
use crate::plan::Plan;
use crate::report::{Figure, Goal, Samples, Section};
use crate::session_tools::{self, clip, flag, text};

const TARGET_MS: f64 = 5.0;
const WARMUP: usize = 3;

/// One `ssh_run_in_session` of `echo $((1000+i))`, checked.
async fn run_once(client: &mut McpClient, sid: &str, i: usize) -> anyhow::Result<Duration> {
    let (r, took) = client
        .call_timed(
            "ssh_run_in_session",
            json!({"session_id": sid, "command": format!("echo $((1000+{i}))")}),
        )
        .await?;
    let want = format!("{}\n", 1000 + i);
    ensure!(
        flag(&r, "ok") && text(&r, "output")? == want,
        "ssh_run_in_session echo: expected ok and output {want:?}, got {}",
        clip(&r)
    );
    Ok(took)
}

/// One `ssh_write_session` of `echo r$((2000+i))` and Enter, wait_seconds 1, then reads until
/// the answer is there: the time from the write to the reply that holds it. `settle_ms`: the
/// quiet time the write and reads ask for (`None`: the daemon's 75 ms).
async fn write_once(
    client: &mut McpClient,
    sid: &str,
    i: usize,
    settle_ms: Option<u32>,
) -> anyhow::Result<Duration> {
    session_tools::drain(client, sid).await?;
    // The typed line echoes as `r$((2000+i))`; only the shell's answer holds the number.
    let marker = format!("r{}", 2000 + i);
    let mut write =
        json!({"session_id": sid, "input": format!("echo r$((2000+{i}))\n"), "wait_seconds": 1});
    let mut read = json!({"session_id": sid, "wait_seconds": 1});
    if let Some(ms) = settle_ms {
        write["settle_ms"] = json!(ms);
        read["settle_ms"] = json!(ms);
    }
    let (w, mut took) = client.call_timed("ssh_write_session", write).await?;
    let mut seen = text(&w, "output")?.to_owned();
    let mut reads = 0;
    while !seen.contains(&marker) {
        reads += 1;
        ensure!(
            reads <= 10,
            "no {marker:?} after a write and {reads} reads; output: {seen:?}"
        );
        let (r, t) = client.call_timed("ssh_read_session", read.clone()).await?;
        took += t;
        seen.push_str(text(&r, "output")?);
    }
    Ok(took)
}

pub async fn run(plan: &Plan, client: &mut McpClient) -> anyhow::Result<Section> {
    let check = plan.check;
    let sid = session_tools::start(client).await?;
    for i in 0..WARMUP {
        run_once(client, &sid, i).await?;
    }
    let mut runs = Samples::default();
    for i in 0..plan.session_run_rounds {
        runs.push(run_once(client, &sid, i).await?);
    }
    // The typed way with settle_ms 0: each reply as soon as output arrives.
    let mut typed = Samples::default();
    for i in 0..plan.session_run_rounds {
        typed.push(write_once(client, &sid, 100 + i, Some(0)).await?);
    }
    let mut writes = Samples::default();
    for i in 0..plan.session_write_rounds {
        writes.push(write_once(client, &sid, i, None).await?);
    }
    session_tools::stop(client, &sid).await?;

    let median = runs.median();
    let typed_median = typed.median();
    Ok(Section {
        title: "6. Session echo round trip".into(),
        method: format!(
            "One session started with `ssh_start_session` (`\"shell\": \"/bin/sh\"`, transcript \
             observer): every session of the bench runs /bin/sh rather than the account's login \
             shell, so that the figures are about ssh-mcp and not about rc files. Then, through \
             the same MCP session, {WARMUP} untimed and {} timed `ssh_run_in_session` calls of \
             `echo $((1000+i))`, each checked to answer ok with the number alone; the call \
             returns when the daemon sees the command's end mark, with no settle time. Then {} \
             rounds of the typed way with `settle_ms` 0 (each reply as soon as output arrives): \
             `ssh_write_session` of `echo r$((2000+i))` and Enter, then `ssh_read_session` calls \
             until the shell's answer is there (the write→read echo round trip). Then, for \
             context, {} rounds of the typed way with the default settle time: `ssh_write_session` of `echo r$((2000+i))` and \
             Enter with wait_seconds 1, plus `ssh_read_session` calls if the answer was not in \
             the write's reply (unread output is drained first, untimed). A write's read \
             returns once output has stayed quiet for the daemon's settle time (75 ms), so this \
             figure cannot go below 75 ms. The markers are computed by the shell, so the \
             terminal's echo of the typed line never matches them. Times are request written → \
             response read.",
            runs.len(),
            typed.len(),
            writes.len()
        ),
        figures: vec![
            Figure::timing(
                "session: `ssh_run_in_session` `echo` round trip",
                &runs,
                &check.text(Goal::Below(TARGET_MS), " ms"),
                Some(check.met(Goal::Below(TARGET_MS), median)),
            ),
            Figure::timing(
                "session: write→read `echo` round trip (`settle_ms` 0)",
                &typed,
                &check.text(Goal::Below(TARGET_MS), " ms"),
                Some(check.met(Goal::Below(TARGET_MS), typed_median)),
            ),
            Figure::timing(
                "session: `ssh_write_session` `echo` until the answer, 75 ms settle included (context)",
                &writes,
                "",
                None,
            ),
        ],
        notes: Vec::new(),
    })
}
