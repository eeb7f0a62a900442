//! `ssh-mcpd`: flags, logging, the listener, then [`ssh_mcpd::run`]. Everything else lives in the
//! library so that the order of start-up stays readable here.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ssh_mcpd::config::Config;
use ssh_mcpd::listener::{self, Acquired};

/// The ssh-mcp per-user daemon: owns ssh connections and commands, serves gRPC on a Unix socket.
#[derive(Debug, Parser)]
#[command(name = "ssh-mcpd", version)]
struct Args {
    /// Socket path (default: SSH_MCP_SOCKET, else the runtime-dir rule in the README).
    #[arg(long, env = "SSH_MCP_SOCKET")]
    socket: Option<PathBuf>,
    /// State directory for logs and transcripts (default: SSH_MCP_STATE_DIR, XDG_STATE_HOME, ~/.local/state/ssh-mcp).
    #[arg(long, env = "SSH_MCP_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// An ssh config file given as -F to every ssh the daemon runs (operators only; agents cannot set it).
    #[arg(long, env = "SSH_MCP_SSH_CONFIG")]
    ssh_config: Option<PathBuf>,
    /// Seconds an idle ControlMaster stays open for reuse.
    #[arg(long, env = "SSH_MCP_CONTROL_PERSIST", default_value_t = 600)]
    control_persist: u64,
    /// ConnectTimeout for new connections, in seconds, unless the agent sets its own.
    #[arg(long, env = "SSH_MCP_CONNECT_TIMEOUT", default_value_t = 15)]
    connect_timeout: u32,
    /// Seconds between keepalives on each connection; three unanswered ones end it, and with it
    /// the sessions on it (connection-lost), unless the agent sets ServerAliveInterval.
    #[arg(long, env = "SSH_MCP_KEEPALIVE_INTERVAL", default_value_t = 4)]
    keepalive_interval: u32,
    /// Sessions and forwards one connection (target and options) may hold at once; each keeps a
    /// channel for its life, and the rest stay for short calls.
    #[arg(long, env = "SSH_MCP_MAX_LONG_LIVED", default_value_t = ssh_mcpd::connection::masters::DEFAULT_MAX_LONG_LIVED)]
    max_long_lived: usize,
}

fn main() -> ExitCode {
    return_large_buffers();
    let args = Args::parse();
    ssh_mcpd::logging::init();
    match start(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("ssh-mcpd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The size from which glibc gives a buffer its own mapping, fixed (glibc otherwise raises it
/// to the largest buffer freed so far).
const OWN_MAPPING_BYTES: libc::c_int = 4 << 20;

/// Buffers of megabytes (a page of kept output, a file's content) get their own mapping and go
/// back to the system when freed, so the daemon's resident size follows what it holds now, not
/// past peaks left in the heaps of its worker threads. Smaller buffers (a session's reads) stay
/// in the heap. Does nothing where the C library is not glibc.
fn return_large_buffers() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets one of glibc's allocation thresholds; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, OWN_MAPPING_BYTES);
    }
}

fn start(args: Args) -> anyhow::Result<()> {
    let socket = match args.socket {
        Some(s) => {
            ssh_mcp_core::paths::check_socket_path_len(&s)?;
            s
        }
        None => ssh_mcp_core::paths::socket_path()?,
    };
    let state_dir = match args.state_dir {
        Some(d) => d,
        None => ssh_mcp_core::paths::state_dir()?,
    };
    // LISTEN_FDS must be read before any other thread exists, so this runs before the runtime.
    let bound = match listener::acquire(&socket)? {
        Acquired::Listener(bound) => bound,
        Acquired::AlreadyRunning => {
            eprintln!(
                "ssh-mcpd: another daemon already serves {}",
                socket.display()
            );
            return Ok(());
        }
    };
    let mut config = Config::new(
        bound.socket_path().to_path_buf(),
        state_dir,
        args.ssh_config,
        args.control_persist,
        args.connect_timeout,
    )?;
    config.keepalive_interval_secs = args.keepalive_interval.max(1);
    let most = ssh_mcpd::connection::masters::MAX_LONG_LIVED_LIMIT;
    anyhow::ensure!(
        (1..=most).contains(&args.max_long_lived),
        "--max-long-lived / SSH_MCP_MAX_LONG_LIVED must be between 1 and {most} (one master's \
         channels stay for short calls), got {}",
        args.max_long_lived
    );
    config.max_long_lived = args.max_long_lived;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let stop = ssh_mcpd::shutdown::signals()?;
        ssh_mcpd::run(bound, config, stop).await
    })
}
