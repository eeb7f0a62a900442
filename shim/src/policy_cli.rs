//! `ssh-mcp policy check [FILE]` and `ssh-mcp policy explain TARGET`: the person's view of the
//! policy, answered by the daemon (which holds the only copy of the rules' meaning).

#![allow(clippy::print_stdout, reason = "human subcommands print their answer")]

use std::path::PathBuf;

use clap::Subcommand;
use ssh_mcp_wire::pb::control_client::ControlClient;
use ssh_mcp_wire::pb::{CheckPolicyRequest, ExplainPolicyRequest};

use crate::daemon_link::DaemonLink;

#[derive(Debug, Subcommand)]
pub enum PolicyAction {
    /// Check a policy file (default: the one the daemon reads); exit 1 with the line and what
    /// is wrong when it is invalid.
    Check {
        /// The file to check instead of the daemon's own.
        file: Option<PathBuf>,
    },
    /// Show what each tool class may do on TARGET (allow, ask or deny) and why.
    Explain {
        /// A target as an agent would write it: an alias, a host, or user@host.
        target: String,
    },
}

pub async fn policy(action: PolicyAction) -> anyhow::Result<i32> {
    let link = DaemonLink::from_env();
    let mut control = ControlClient::new(link.channel().await?);
    match action {
        PolicyAction::Check { file } => {
            let request = match &file {
                Some(path) => CheckPolicyRequest {
                    text: Some(
                        std::fs::read_to_string(path)
                            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?,
                    ),
                    path: path.display().to_string(),
                },
                None => CheckPolicyRequest::default(),
            };
            let reply = control.check_policy(request).await?.into_inner();
            if reply.ok {
                println!(
                    "{}: valid ({} [[target]] rule{})",
                    reply.path,
                    reply.targets,
                    if reply.targets == 1 { "" } else { "s" }
                );
                Ok(0)
            } else {
                println!("{}: {}", reply.path, reply.error);
                Ok(1)
            }
        }
        PolicyAction::Explain { target } => {
            let r = control
                .explain_policy(ExplainPolicyRequest { target })
                .await?
                .into_inner();
            println!("policy:  {} ({})", r.policy_path, r.policy_source);
            println!("names:   {}", r.names.join(", "));
            println!("rule:    {}", r.rule);
            for c in &r.classes {
                println!("  {:<9} {}", c.class, c.verdict);
            }
            println!("uploads read under:    {}", r.local_read.join(", "));
            println!("downloads write under: {}", r.local_write.join(", "));
            println!("ssh files under:       {}", r.ssh_files.join(", "));
            if r.upload_secrets {
                println!("uploads MAY read keys and secrets (upload_secrets = true)");
            }
            if r.download_into_protected {
                println!(
                    "downloads MAY write ssh, gpg and start-up files (download_into_protected = true)"
                );
            }
            Ok(0)
        }
    }
}
