//! Benchmark 1, per-call latency of a trivial command: `ssh_exec true` through the shim (warm, one
//! MCP session) against the floor (a mux session the bench opens itself on the daemon's own
//! master, see `floor.rs`), bare `ssh` over a ControlMaster the bench owns and bare `ssh` over a
//! fresh connection, interleaved round-robin so that machine noise hits all of them alike.

use std::path::Path;

use serde_json::json;

use crate::bare::{self, Master};
use crate::floor::Floor;
use crate::mcp_client::McpClient;
use crate::plan::Plan;
use crate::report::{Figure, Goal, Samples, Section, paired_median};

const WARMUP: usize = 3;
const MAX_SHIM_OVER_CM: f64 = 1.15;
const MIN_FRESH_OVER_SHIM: f64 = 2.5;
const MAX_SHIM_OVER_FLOOR: f64 = 1.3;

#[derive(Clone, Copy)]
enum Kind {
    Shim,
    Floor,
    Master,
    Rejected,
    Fresh,
}

pub async fn run(
    plan: &Plan,
    client: &mut McpClient,
    master: &Master,
    ssh_config: &Path,
    control_dir: &Path,
) -> anyhow::Result<Section> {
    let (calls, fresh_calls, check) = (plan.latency_rounds, plan.latency_fresh, plan.check);
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
    // The warm-up calls brought the daemon's master for testhost up, and only that one.
    let floor = Floor::on_daemon_master(control_dir, "true")?;
    for _ in 0..WARMUP {
        floor.run_timed()?;
    }

    let (mut shim, mut cm, mut new) = (Samples::default(), Samples::default(), Samples::default());
    let mut bottom = Samples::default();
    let mut rejected = Samples::default();
    let mut daemon_ms = Vec::new();
    let mut not_reused = 0;
    let mut failures = Vec::new();
    let kinds = [
        Kind::Shim,
        Kind::Floor,
        Kind::Master,
        Kind::Rejected,
        Kind::Fresh,
    ];
    for i in 0..calls {
        // fresh_calls of the rounds, spread evenly, also time a fresh connection.
        let fresh_due = (i * fresh_calls) / calls != ((i + 1) * fresh_calls) / calls;
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
                Kind::Floor => bottom.push(floor.run_timed()?),
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
    let ratio_floor = shim.median() / bottom.median();
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
         one fork and exec of sh, about 1 ms), which the bare runs do not and the floor does."
            .into(),
        format!(
            "Our own cost over the floor (medians of per-round differences): shim − floor = \
             {:.2} ms. The floor is the part of a call that OpenSSH and the server do; the rest \
             is MCP, the shim, gRPC and the daemon. The floor used the daemon's control socket \
             {} (of {} in its control dir).",
            paired_median(&shim, &bottom),
            floor.socket_name(),
            floor.sockets_seen
        ),
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
    notes.push(format!(
        "Margin over the floor: the ≤ {MAX_SHIM_OVER_FLOOR}× target allows {:.2} ms of our own \
         cost over this run's floor median; the shim used {:.2} ms.",
        bottom.median() * (MAX_SHIM_OVER_FLOOR - 1.0),
        shim.median() - bottom.median()
    ));
    Ok(Section {
        title: "1. `ssh_exec true`: shim vs the floor and bare ssh".into(),
        method: format!(
            "One MCP session with the shim, daemon and its ControlMaster already up ({WARMUP} \
             untimed warm-up calls of each kind first). {calls} rounds; each round times one \
             `ssh_exec` of `true` through the shim (request line written → response line read), \
             one session the bench opens itself on the daemon's own ControlMaster (the floor: \
             HELLO and NEW_SESSION over the master's control socket with `ssh_mcp_core::ssh::mux`, \
             `/dev/null` and two pipes passed by SCM_RIGHTS, the same remote command the daemon \
             sends, i.e. the pid report then `true`; connect → exit status and EOF on both \
             pipes), one `ssh -F cfg -S <ctlpath> -o ControlMaster=no testhost true` over a \
             ControlMaster the bench started itself (spawn → exit), one \
             `ssh_exec` with target `-bench-rejected`, which the daemon refuses before running \
             anything (for context: the MCP and gRPC round trip alone), and \
             in {fresh_calls} of the {calls} rounds (spread evenly) one `ssh -F cfg testhost true` \
             over a fresh connection. The order inside a round rotates."
        ),
        figures: vec![
            Figure::timing("ssh_exec `true` via shim (warm)", &shim, "", None),
            Figure::timing(
                "floor: mux session on the daemon's master, opened by the bench",
                &bottom,
                "",
                None,
            ),
            Figure::timing("bare ssh `true` over ControlMaster", &cm, "", None),
            Figure::timing(
                "ssh_exec refused by the daemon, no ssh run (context)",
                &rejected,
                "",
                None,
            ),
            Figure::timing("bare ssh `true`, fresh connection", &new, "", None),
            Figure::value(
                "shim / floor (ratio of medians)",
                format!("{ratio_floor:.2}×"),
                format!("{} / {}", shim.len(), bottom.len()),
                &check.text(Goal::AtMost(MAX_SHIM_OVER_FLOOR), "×"),
                Some(
                    check.met(Goal::AtMost(MAX_SHIM_OVER_FLOOR), ratio_floor)
                        && failures.is_empty(),
                ),
            ),
            Figure::value(
                "shim / bare-over-ControlMaster (ratio of medians)",
                format!("{ratio_cm:.2}×"),
                format!("{} / {}", shim.len(), cm.len()),
                &check.text(Goal::AtMost(MAX_SHIM_OVER_CM), "×"),
                Some(check.met(Goal::AtMost(MAX_SHIM_OVER_CM), ratio_cm) && failures.is_empty()),
            ),
            Figure::value(
                "fresh / shim (ratio of medians)",
                format!("{ratio_fresh:.2}×"),
                format!("{} / {}", new.len(), shim.len()),
                &check.text(Goal::AtLeast(MIN_FRESH_OVER_SHIM), "×"),
                Some(
                    check.met(Goal::AtLeast(MIN_FRESH_OVER_SHIM), ratio_fresh)
                        && failures.is_empty(),
                ),
            ),
        ],
        notes,
    })
}
