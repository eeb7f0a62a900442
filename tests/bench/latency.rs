//! Benchmark 1, per-call latency of a trivial command: `ssh_exec true` through the shim (warm, one
//! MCP session) against bare `ssh` over a ControlMaster the bench owns and bare `ssh` over a fresh
//! connection, interleaved round-robin so that machine noise hits all three alike.

use std::path::Path;

use serde_json::json;

use crate::bare::{self, Master};
use crate::mcp_client::McpClient;
use crate::report::{Figure, Samples, Section, paired_median};

pub const CALLS: usize = 100;
pub const FRESH: usize = 20;
const WARMUP: usize = 3;
const MAX_SHIM_OVER_CM: f64 = 1.15;
const MIN_FRESH_OVER_SHIM: f64 = 2.5;

#[derive(Clone, Copy)]
enum Kind {
    Shim,
    Master,
    Rejected,
    Fresh,
}

pub async fn run(
    client: &mut McpClient,
    master: &Master,
    ssh_config: &Path,
) -> anyhow::Result<Section> {
    let args = json!({"target": "testhost", "command": "true"});
    // The daemon refuses a target that starts with '-' before leasing or spawning anything.
    let rejected_args = json!({"target": "-bench-rejected", "command": "true"});
    let over_master = master.command("true");
    let fresh = bare::fresh_command(ssh_config, "true");
    for _ in 0..WARMUP {
        let (r, _) = client.exec_timed(args.clone()).await?;
        anyhow::ensure!(r.ok, "warm-up ssh_exec failed: {}", r.failure());
        bare::run_timed(&over_master)?;
    }
    bare::run_timed(&fresh)?;

    let (mut shim, mut cm, mut new) = (Samples::default(), Samples::default(), Samples::default());
    let mut rejected = Samples::default();
    let mut daemon_ms = Vec::new();
    let mut not_reused = 0;
    let mut failures = Vec::new();
    let kinds = [Kind::Shim, Kind::Master, Kind::Rejected, Kind::Fresh];
    for i in 0..CALLS {
        // FRESH of the CALLS rounds, spread evenly, also time a fresh connection.
        let fresh_due = (i * FRESH) / CALLS != ((i + 1) * FRESH) / CALLS;
        // Rotate who goes first so that no kind always follows the same one.
        for k in 0..kinds.len() {
            match kinds[(i + k) % kinds.len()] {
                Kind::Shim => {
                    let (r, took) = client.exec_timed(args.clone()).await?;
                    if !r.ok {
                        failures.push(r.failure());
                    }
                    if !r.reused_connection {
                        not_reused += 1;
                    }
                    daemon_ms.push(r.duration_ms);
                    shim.push(took);
                }
                Kind::Master => cm.push(bare::run_timed(&over_master)?),
                Kind::Rejected => {
                    let (r, took) = client.exec_timed(rejected_args.clone()).await?;
                    anyhow::ensure!(
                        r.is_error,
                        "a target starting with '-' was not refused: {}",
                        r.failure()
                    );
                    rejected.push(took);
                }
                Kind::Fresh if fresh_due => new.push(bare::run_timed(&fresh)?),
                Kind::Fresh => {}
            }
        }
    }
    let ratio_cm = shim.median() / cm.median();
    let ratio_fresh = new.median() / shim.median();
    daemon_ms.sort_unstable();
    let daemon_median = daemon_ms.get(daemon_ms.len() / 2).copied().unwrap_or(0);
    let mut notes = vec![
        format!(
            "Shim calls not on a reused connection (reused_connection false): {not_reused} of {}.",
            shim.len()
        ),
        format!(
            "Failed shim calls: {}{}",
            failures.len(),
            if failures.is_empty() {
                String::new()
            } else {
                format!(" — first: {}", failures[0])
            }
        ),
        "The daemon's remote command is not bare `true`: a child sh first prints the login shell's \
         pid to stderr (`sh -c '… printf \"\\036ssh-mcp-pid:<nonce>:%s\\012\" \"$p\" >&2'; true`, \
         one fork and exec of sh, about 1 ms), which the bare runs do not."
            .into(),
    ];
    notes.push(format!(
        "Where the time goes (medians of per-round differences, so load drift cancels): shim − \
         bare ssh over a master = {:.2} ms. The daemon starts no ssh client for a command: it \
         opens a session on its own ControlMaster through OpenSSH's multiplexing protocol (a few \
         socket writes, the output pipes passed to the master), which saves the start-up of an \
         `ssh` process that bare runs pay. The MCP → shim → gRPC → daemon round trip alone (a \
         call the daemon refuses before running anything) is {:.2} ms. The daemon's duration_ms \
         for the `true` calls: median {} ms (whole milliseconds).",
        paired_median(&shim, &cm),
        rejected.median(),
        daemon_median
    ));
    let allowed = cm.median() * (MAX_SHIM_OVER_CM - 1.0);
    let over = shim.median() - cm.median();
    notes.push(if over <= 0.0 {
        format!(
            "Margin: the ≤ {MAX_SHIM_OVER_CM}× target allows {allowed:.2} ms over this run's bare \
             median; the shim took {:.2} ms less than bare ssh.",
            -over
        )
    } else {
        format!(
            "Margin: the ≤ {MAX_SHIM_OVER_CM}× target allows {allowed:.2} ms over this run's bare \
             median; the shim used {over:.2} ms of it, so this ratio moves with machine load."
        )
    });
    Ok(Section {
        title: "1. `ssh_exec true`: shim vs bare ssh".into(),
        method: format!(
            "One MCP session with the shim, daemon and its ControlMaster already up ({WARMUP} \
             untimed warm-up calls of each kind first). {CALLS} rounds; each round times one \
             `ssh_exec` of `true` through the shim (request line written → response line read), \
             one `ssh -F cfg -S <ctlpath> -o ControlMaster=no testhost true` over a ControlMaster \
             the bench started itself (spawn → exit), one \
             `ssh_exec` with target `-bench-rejected`, which the daemon refuses before running \
             anything (for context: the MCP and gRPC round trip alone), and \
             in {FRESH} of the {CALLS} rounds (spread evenly) one `ssh -F cfg testhost true` over \
             a fresh connection. The order inside a round rotates."
        ),
        figures: vec![
            Figure::timing("ssh_exec `true` via shim (warm)", &shim, "", None),
            Figure::timing("bare ssh `true` over ControlMaster", &cm, "", None),
            Figure::timing(
                "ssh_exec refused by the daemon, no ssh run (context)",
                &rejected,
                "",
                None,
            ),
            Figure::timing("bare ssh `true`, fresh connection", &new, "", None),
            Figure::value(
                "shim / bare-over-ControlMaster (ratio of medians)",
                format!("{ratio_cm:.2}×"),
                format!("{} / {}", shim.len(), cm.len()),
                &format!("≤ {MAX_SHIM_OVER_CM}×"),
                Some(ratio_cm <= MAX_SHIM_OVER_CM && failures.is_empty()),
            ),
            Figure::value(
                "fresh / shim (ratio of medians)",
                format!("{ratio_fresh:.2}×"),
                format!("{} / {}", new.len(), shim.len()),
                &format!("≥ {MIN_FRESH_OVER_SHIM}×"),
                Some(ratio_fresh >= MIN_FRESH_OVER_SHIM && failures.is_empty()),
            ),
        ],
        notes,
    })
}
