//! `ssh-mcp jobs` for people at a terminal: the background jobs the daemon knows (started by
//! `ssh_exec` with `background: true`), with their state asked on their hosts.

#![allow(
    clippy::print_stdout,
    reason = "this subcommand writes its table to the terminal"
)]

use ssh_mcp_wire::pb::{self, jobs_client::JobsClient};

use crate::daemon_link::DaemonLink;

pub async fn list() -> anyhow::Result<i32> {
    let link = DaemonLink::from_env();
    let channel = link.channel().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let jobs = JobsClient::new(channel)
        .list(pb::ListJobsRequest { target: None })
        .await?
        .into_inner()
        .jobs;
    if jobs.is_empty() {
        println!("no jobs");
        return Ok(0);
    }
    println!(
        "{:<20} {:<20} {:<20} {:<12} {:>12} {:>12}  COMMAND",
        "ID", "TARGET", "STARTED", "STATE", "STDOUT", "STDERR"
    );
    for j in jobs {
        let state = match (j.running, j.exit_code, j.signal) {
            (true, _, _) => "running".to_owned(),
            (false, Some(code), _) => format!("exit {code}"),
            (false, None, Some(sig)) => format!("signal {sig}"),
            (false, None, None) => "lost".to_owned(),
        };
        let command: String = j.command.chars().take(60).collect();
        println!(
            "{:<20} {:<20} {:<20} {:<12} {:>12} {:>12}  {}",
            j.job_id,
            j.target,
            j.started_at.get(..19).unwrap_or(&j.started_at),
            state,
            j.stdout_bytes,
            j.stderr_bytes,
            command.escape_debug()
        );
        if !j.note.is_empty() {
            println!("{:<20} note: {}", "", j.note);
        }
    }
    Ok(0)
}
