//! The bench (`cargo bench --bench exec -- --bin-dir DIR --out FILE`, run by
//! `scripts/bench.sh`): starts a throwaway sshd, a private daemon environment and ControlMasters
//! of its own, runs the twelve benchmarks in order (`ssh_exec` and the shim, file tools, sessions,
//! transfers, grep, fifty clients at once, crash recovery), writes BENCHMARKS.md and cleans up everything it started. With `--quick` (CI) it takes few samples, checks every target with twice the
//! slack, prints the table instead of writing the page, and fails when a figure regressed.

#![allow(
    clippy::disallowed_methods,
    reason = "the bench starts sshd, ssh, the shim and the daemon to time them"
)]

mod bare;
mod daemon;
mod env;
mod fanout;
mod files;
mod floor;
mod grep;
mod latency;
mod load;
mod mcp_client;
mod memory;
mod orphans;
mod outputs;
mod parallel;
mod pinning;
mod plan;
mod report;
mod session_echo;
mod session_flood;
mod session_idle;
mod session_tools;
mod sshd;
mod startup;
mod transfers;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail, ensure};

use crate::bare::Master;
use crate::env::BenchEnv;
use crate::mcp_client::McpClient;
use crate::plan::Plan;
use crate::sshd::Sshd;

/// The documented command that runs this bench, and what it runs.
fn command_line() -> String {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    format!(
        "`bash scripts/bench.sh` (it runs `cargo build --release --locked --workspace --bins`, \
         then `cargo bench --locked --bench exec -- {}`)",
        args.join(" ")
    )
}

/// A benchmark run alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Only {
    Transfers,
    Flood,
    Load,
    Outputs,
    Fanout,
}

struct Args {
    bin_dir: PathBuf,
    out: PathBuf,
    plan: Plan,
    /// `--only transfers` or `--only flood`: run that benchmark alone and print its table (for
    /// working on it).
    only: Option<Only>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut bin_dir = PathBuf::from("target/release");
    let mut out = PathBuf::from("BENCHMARKS.md");
    let mut plan = Plan::FULL;
    let mut only = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            // cargo bench passes --bench to every bench target.
            "--bench" => {}
            "--bin-dir" => bin_dir = args.next().context("--bin-dir needs a value")?.into(),
            "--out" => out = args.next().context("--out needs a value")?.into(),
            "--quick" => plan = Plan::QUICK,
            "--only" => {
                only = Some(
                    match args.next().context("--only needs a value")?.as_str() {
                        "transfers" => Only::Transfers,
                        "flood" => Only::Flood,
                        "load" => Only::Load,
                        "outputs" => Only::Outputs,
                        "fanout" => Only::Fanout,
                        other => {
                            bail!("--only takes transfers, flood, load or outputs (got {other:?})")
                        }
                    },
                );
            }
            other => {
                bail!(
                    "unknown argument {other:?} (expected --bin-dir DIR, --out FILE, --quick, \
                     --only transfers|flood|load|outputs|fanout)"
                )
            }
        }
    }
    let cwd = std::env::current_dir()?;
    Ok(Args {
        bin_dir: cwd.join(bin_dir),
        out: cwd.join(out),
        plan,
        only,
    })
}

// One thread: the MCP client's reader task then wakes straight from epoll, with no hand-off
// between threads inside the timed span. Bare ssh runs block this thread while nothing else is due.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let started = Instant::now();
    let args = parse_args()?;
    let machine = report::Machine::detect();
    let env = BenchEnv::new(&args.bin_dir)?;
    eprintln!("bench: starting sshd in {}", env.root.display());
    let sshd = Sshd::start(&env.sshd_dir())?;
    ensure!(
        sshd.client_config == env.ssh_config,
        "ssh config path mismatch"
    );
    let sections = benchmarks(&args.plan, &env, args.only).await.map_err(|e| {
        let logs = env.log_tail();
        e.context(logs)
    });
    // Everything benchmarks() started is gone by now (drop guards); sshd goes last.
    drop(sshd);
    let sections = sections?;
    if args.plan.quick || args.only.is_some() {
        return quick_verdict(&sections, args.plan.quick, started.elapsed());
    }
    let page = report::page(&machine, &command_line(), &sections, started.elapsed());
    std::fs::write(&args.out, &page).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!("{page}");
    eprintln!("bench: wrote {}", args.out.display());
    Ok(())
}

/// The quick run's answer: the table on stdout, and an error when a figure regressed.
fn quick_verdict(
    sections: &[report::Section],
    quick: bool,
    took: std::time::Duration,
) -> anyhow::Result<()> {
    let (checked, passed) = report::tally(sections);
    println!("{}", report::table(sections));
    if !quick {
        // A benchmark run alone (`--only`) is being worked on: its notes say what it saw.
        for note in sections.iter().flat_map(|s| &s.notes) {
            println!("- {note}");
        }
    }
    let slack = if quick { " with 2x slack" } else { "" };
    println!(
        "bench: {passed} of {checked} targets met{slack} in {:.0} s",
        took.as_secs_f64()
    );
    ensure!(
        passed == checked,
        "{} of {checked} figures regressed past twice their target (the FAIL lines above)",
        checked - passed
    );
    Ok(())
}

async fn benchmarks(
    plan: &Plan,
    env: &BenchEnv,
    only: Option<Only>,
) -> anyhow::Result<Vec<report::Section>> {
    let _stop_daemon = daemon::StopOnDrop(env);
    let masters = [
        Master::start(&env.ssh_config, env.cm_dir.join("a"))?,
        Master::start(&env.ssh_config, env.cm_dir.join("b"))?,
    ];
    match only {
        Some(Only::Transfers) => return Ok(vec![transfers::run(plan, env, &masters[0]).await?]),
        Some(Only::Flood) => return Ok(vec![session_flood::run(plan, env, &masters[0]).await?]),
        Some(Only::Load) => return Ok(vec![load::run(plan, env).await?]),
        Some(Only::Outputs) => return Ok(vec![outputs::run(plan, env, &masters[0]).await?]),
        Some(Only::Fanout) => return Ok(vec![fanout::run(plan, env).await?]),
        None => {}
    }
    eprintln!("bench: MCP session (autostarts the daemon)");
    let mut client = McpClient::connect(env, &env.shim).await?;
    let mut sections = Vec::new();

    eprintln!("bench: [1/13] ssh_exec true: shim vs the floor and bare ssh");
    let control_dir = ssh_mcp_core::paths::control_dir(&env.socket);
    sections.push(
        latency::run(
            plan,
            &mut client,
            &masters[0],
            &env.ssh_config,
            &control_dir,
        )
        .await?,
    );
    eprintln!("bench: [2/13] twenty parallel sleep 0.5");
    sections.push(parallel::run(plan, env, &mut client, &masters).await?);
    eprintln!("bench: [3/13] view and edit of a 1 MB file");
    sections.push(files::run(plan, env, &mut client, &masters[0]).await?);
    client.close().await?;

    eprintln!("bench: [4/13] shim start-up");
    sections.push(startup::run(plan, env)?);
    eprintln!("bench: [5/13] daemon memory under 300 MB of output");
    sections.push(memory::run(plan, env, &masters[0]).await?);
    // Before the session benchmarks: a daemon restarted later reloads their ended sessions
    // (the last 4 MiB of each transcript), which would count in this one's memory figures.
    eprintln!("bench: [5b/13] kept outputs: 1 GiB on disk, 64 MiB paged back");
    sections.push(outputs::run(plan, env, &masters[0]).await?);

    eprintln!("bench: [6/13] session echo round trip");
    let mut client = McpClient::connect(env, &env.shim).await?;
    sections.push(session_echo::run(plan, &mut client).await?);
    client.close().await?;
    eprintln!(
        "bench: [7/13] a {} MB flood through session reads",
        plan.flood_bytes / 1_000_000
    );
    sections.push(session_flood::run(plan, env, &masters[0]).await?);
    eprintln!("bench: [8/13] {} idle sessions", plan.idle_sessions);
    sections.push(session_idle::run(plan, env).await?);
    eprintln!(
        "bench: [9/13] {} MB up and down with ssh_scp and ssh_sync vs bare scp and rsync",
        plan.transfer_bytes / 1_000_000
    );
    sections.push(transfers::run(plan, env, &masters[0]).await?);
    eprintln!("bench: [10/13] ssh_grep over a tree of files, and reading it over SFTP");
    sections.push(grep::run(plan, env, &masters[0]).await?);
    eprintln!("bench: [11/13] fifty clients at once");
    sections.push(load::run(plan, env).await?);
    eprintln!("bench: [12/13] a command left running by a killed daemon");
    sections.push(orphans::run(plan, env).await?);
    eprintln!("bench: [13/13] one command on twenty hosts with ssh_exec_many");
    sections.push(fanout::run(plan, env).await?);

    Ok(sections)
}
