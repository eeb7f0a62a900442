//! Tracing set-up: to stderr, which is the terminal, journald (under systemd) or the log file in
//! the state directory (when a shim started the daemon). `SSH_MCP_LOG` sets the filter.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_env("SSH_MCP_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
}
