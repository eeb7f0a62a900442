//! `ssh-mcp`: with no subcommand, the MCP server on stdio that AI clients spawn (it turns tool
//! calls into gRPC calls to `ssh-mcpd`); with a subcommand, the command line for people.
//! stdout is the MCP channel unless a human subcommand owns it: logs go to stderr.

#![deny(clippy::print_stdout, clippy::dbg_macro)]

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use rmcp::ServiceExt;
use ssh_mcp::{
    audit_view, cli, daemon_link, forward_list, heap, host_list, job_list, mcp, people, policy_cli,
    stdio,
};

/// ssh-mcp gives AI agents SSH access through your own OpenSSH client.
#[derive(Debug, Parser)]
#[command(name = "ssh-mcp", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve MCP on stdin/stdout (what MCP clients run; the default).
    Serve,
    /// Look after the per-user daemon, ssh-mcpd.
    Daemon {
        #[command(subcommand)]
        action: cli::DaemonAction,
    },
    /// Check the policy file, or explain what it allows on a target.
    Policy {
        #[command(subcommand)]
        action: policy_cli::PolicyAction,
    },
    /// List the sessions (running and ended).
    Sessions,
    /// List the port forwards (running and ended).
    Forwards,
    /// List the background jobs (started by ssh_exec with background), with their state.
    Jobs,
    /// List the hosts of the ssh configuration, as ssh resolves them.
    Hosts {
        /// Only names matching this glob.
        filter: Option<String>,
        /// Also try to connect to each host (10 s each, in parallel).
        #[arg(long)]
        probe: bool,
    },
    /// Open a terminal on a running session (Ctrl-] detaches; the session keeps running).
    Attach {
        /// The session's name (or id).
        name: String,
        /// The session's target, when several sessions share the name.
        #[arg(long)]
        target: Option<String>,
    },
    /// Follow a running session's output, read-only.
    Watch {
        name: String,
        #[arg(long)]
        target: Option<String>,
    },
    /// End a running session.
    Stop {
        name: String,
        #[arg(long)]
        target: Option<String>,
    },
    /// Show the audit trail: each call the daemon took, who made it and what was decided.
    ///
    /// Reads audit.jsonl in the state directory (and its rotations audit.jsonl.1 to .3). Times
    /// are in UTC; SUMMARY is cut to the terminal's width (160 columns when piped), and --json
    /// gives whole records.
    Audit(audit_view::AuditArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("SSH_MCP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
    if matches!(cli.command, None | Some(Command::Serve)) {
        heap::keep_freed_heap();
    }
    // One thread: the shim only relays, and hops between worker threads cost more than they
    // save on a path of a few hundred microseconds (measured with scripts/bench.sh).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ssh-mcp: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            None | Some(Command::Serve) => serve().await,
            Some(Command::Daemon { action }) => cli::daemon(action).await,
            Some(Command::Policy { action }) => policy_cli::policy(action).await,
            Some(Command::Sessions) => people::list().await,
            Some(Command::Forwards) => forward_list::list().await,
            Some(Command::Jobs) => job_list::list().await,
            Some(Command::Hosts { filter, probe }) => host_list::list(filter, probe).await,
            Some(Command::Attach { name, target }) => {
                people::attach(&name, target.as_deref(), false).await
            }
            Some(Command::Watch { name, target }) => {
                people::attach(&name, target.as_deref(), true).await
            }
            Some(Command::Stop { name, target }) => people::stop(&name, target.as_deref()).await,
            Some(Command::Audit(args)) => Ok(audit_view::run(args).await?),
        }
    });
    match result {
        Ok(code) => {
            // stdin is read by a blocking thread that cannot be cancelled; do not wait for it.
            std::process::exit(code);
        }
        Err(e) => {
            eprintln!("ssh-mcp: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> anyhow::Result<i32> {
    let link = Arc::new(daemon_link::DaemonLink::from_env());
    // Connect (and start the daemon if needed) while the client initializes, so the first tool
    // call does not pay for it. A failure here is reported by the first tool call instead.
    let warm = link.clone();
    tokio::spawn(async move {
        if let Err(e) = warm.channel().await {
            tracing::warn!("daemon not reachable yet: {e}");
        }
    });
    tokio::spawn(heap::trim_when_idle());
    let service = mcp::SshMcp::new(link).serve(stdio::transport()).await?;
    service.waiting().await?;
    Ok(0)
}
