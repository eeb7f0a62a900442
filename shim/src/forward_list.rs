//! `ssh-mcp forwards` for people at a terminal: the daemon's port forwards, running and ended,
//! with where each listens, where it connects and why it ended.

#![allow(
    clippy::print_stdout,
    reason = "this subcommand writes its table to the terminal"
)]

use ssh_mcp_wire::pb::{self, forwards_client::ForwardsClient};

use crate::daemon_link::DaemonLink;

pub async fn list() -> anyhow::Result<i32> {
    let link = DaemonLink::from_env();
    let channel = link.channel().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let forwards = ForwardsClient::new(channel)
        .list(pb::ListForwardsRequest {
            include_stopped: true,
            target: None,
        })
        .await?
        .into_inner()
        .forwards;
    if forwards.is_empty() {
        println!("no forwards");
        return Ok(0);
    }
    println!(
        "{:<13} {:<12} {:<20} {:<8} {:<22} {:<22} {:>9}  STATE",
        "ID", "NAME", "TARGET", "KIND", "LISTEN", "CONNECT", "UPTIME"
    );
    for f in forwards {
        // A remote forward's address is what sshd was asked for (GatewayPorts decides).
        let listen = if f.listen_requested {
            format!("{} (asked)", f.listen)
        } else {
            f.listen
        };
        let state = if f.running {
            "running".to_owned()
        } else {
            f.ended_reason.unwrap_or_else(|| "ended".into())
        };
        println!(
            "{:<13} {:<12} {:<20} {:<8} {:<22} {:<22} {:>8.0}s  {state}",
            f.forward_id,
            f.forward_name.as_deref().unwrap_or("-"),
            f.target,
            f.direction,
            listen,
            f.connect,
            f.uptime_seconds
        );
    }
    Ok(0)
}
