//! The human subcommands: `ssh-mcp daemon status|stop|start`. These own stdout.

#![allow(clippy::print_stdout, reason = "human subcommands print their answer")]

use std::time::{Duration, Instant};

use clap::Subcommand;
use ssh_mcp_wire::pb::StopRequest;
use ssh_mcp_wire::pb::control_client::ControlClient;
use ssh_mcp_wire::protocol;

use crate::daemon_link::{DaemonLink, process_alive};

#[derive(Debug, Subcommand)]
pub enum DaemonAction {
    /// Show the daemon's socket, pid, version, uptime and what it holds.
    Status,
    /// Stop the daemon in order (ends running commands and closes connections).
    Stop,
    /// Start the daemon if it is not running.
    Start,
}

pub async fn daemon(action: DaemonAction) -> anyhow::Result<i32> {
    let link = DaemonLink::from_env();
    match action {
        DaemonAction::Status => match link.connect_plain().await {
            Ok((_, s)) => {
                println!(
                    "socket:    {}{}",
                    s.socket_path,
                    if s.socket_activated {
                        " (socket-activated)"
                    } else {
                        ""
                    }
                );
                println!("pid:       {}", s.pid);
                println!(
                    "version:   {} (protocol {}{})",
                    s.version,
                    s.protocol,
                    if protocol::is_compatible(s.protocol) {
                        ""
                    } else {
                        ", INCOMPATIBLE with this ssh-mcp"
                    }
                );
                println!(
                    "uptime:    {}",
                    human_duration(Duration::from_millis(s.uptime_ms))
                );
                println!(
                    "commands:  {} running, {} since start",
                    s.running_commands, s.commands_total
                );
                println!(
                    "masters:   {} open, {} connecting, {} channels in use, {} calls waiting",
                    s.control_masters, s.masters_opening, s.connections_busy, s.calls_waiting
                );
                let calls: Vec<String> = s
                    .door_calls
                    .iter()
                    .filter(|c| c.calls > 0)
                    .map(|c| format!("{} {}", c.method, c.calls))
                    .collect();
                println!("calls:     {}", calls.join(", "));
                println!(
                    "policy:    {} ({}){}",
                    s.policy_path,
                    s.policy_source,
                    if s.policy_error.is_empty() {
                        String::new()
                    } else {
                        format!(" - its current text is NOT IN FORCE: {}", s.policy_error)
                    }
                );
                println!(
                    "audit:     {}{}",
                    s.audit_path,
                    if s.audit_failures == 0 {
                        String::new()
                    } else {
                        format!(
                            " - {} records NOT WRITTEN, the last because: {}",
                            s.audit_failures, s.audit_error
                        )
                    }
                );
                println!("state dir: {}", s.state_dir);
                if !s.log_path.is_empty() {
                    println!("log:       {}", s.log_path);
                }
                Ok(0)
            }
            Err(e) => {
                println!("not running: {e}");
                Ok(3)
            }
        },
        DaemonAction::Stop => match link.connect_plain().await {
            Ok((channel, s)) => {
                ControlClient::new(channel).stop(StopRequest {}).await?;
                let deadline = Instant::now() + Duration::from_secs(20);
                while process_alive(s.pid) && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                if process_alive(s.pid) {
                    anyhow::bail!("ssh-mcpd (pid {}) is still running after 20 s", s.pid);
                }
                println!("stopped ssh-mcpd (pid {})", s.pid);
                Ok(0)
            }
            Err(_) => {
                println!("ssh-mcpd is not running");
                Ok(0)
            }
        },
        DaemonAction::Start => {
            link.channel().await?;
            let (_, s) = link.connect_plain().await?;
            println!("ssh-mcpd running (pid {}) on {}", s.pid, s.socket_path);
            Ok(0)
        }
    }
}

fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s >= 86400 => format!("{}d {}h", s / 86400, (s % 86400) / 3600),
        s if s >= 3600 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{s}.{:01}s", d.subsec_millis() / 100),
    }
}
