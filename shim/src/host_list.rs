//! `ssh-mcp hosts` for people at a terminal: the hosts of the ssh configuration as the daemon
//! sees them (resolved by `ssh -G`), with its connection to each.

#![allow(
    clippy::print_stdout,
    reason = "this subcommand writes its table to the terminal"
)]

use ssh_mcp_wire::pb::{self, hosts_client::HostsClient};

use crate::daemon_link::DaemonLink;

pub async fn list(filter: Option<String>, probe: bool) -> anyhow::Result<i32> {
    let link = DaemonLink::from_env();
    let channel = link.channel().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let reply = HostsClient::new(channel)
        .list(pb::ListHostsRequest {
            filter,
            probe,
            ssh_auth_sock: std::env::var("SSH_AUTH_SOCK")
                .ok()
                .filter(|s| !s.is_empty()),
        })
        .await?
        .into_inner();
    for p in &reply.problems {
        eprintln!("ssh-mcp: {p}");
    }
    if reply.hosts.is_empty() {
        println!("no hosts (read: {})", reply.files.join(", "));
        return Ok(0);
    }
    println!(
        "{:<24} {:<28} {:<12} {:>5} {:<16} {:<6} {:<6}  DEFINED",
        "NAME", "HOSTNAME", "USER", "PORT", "PROXYJUMP", "CONN", "POLICY"
    );
    for h in reply.hosts {
        if !h.error.is_empty() {
            println!("{:<24} error: {}", h.name, h.error);
            continue;
        }
        println!(
            "{:<24} {:<28} {:<12} {:>5} {:<16} {:<6} {:<6}  {}:{}",
            h.name,
            h.hostname,
            h.user,
            h.port,
            h.proxy_jump.as_deref().unwrap_or("-"),
            h.connection,
            h.policy,
            h.file,
            h.line
        );
        match h.reachable {
            Some(true) => println!("{:<24} reachable", ""),
            Some(false) => println!("{:<24} unreachable: {}", "", h.probe_error),
            None if !h.probe_error.is_empty() => println!("{:<24} {}", "", h.probe_error),
            None => {}
        }
    }
    Ok(0)
}
