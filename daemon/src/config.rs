//! [`Config`]: what the operator decided at start-up (flags and environment), in one value that
//! the rest of the daemon reads and never changes.

use std::path::PathBuf;
use std::time::Duration;

use ssh_mcp_core::paths;

/// Bytes of stdout and of stderr kept for `ssh_read_output` when a request does not say (on
/// disk, see `outputs`).
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 128 << 20;
/// The most a request may ask to keep of each stream.
pub const MAX_OUTPUT_BYTES_LIMIT: u64 = 4 << 30;

#[derive(Debug, Clone)]
pub struct Config {
    pub socket_path: PathBuf,
    pub state_dir: PathBuf,
    pub control_dir: PathBuf,
    pub ssh_config: Option<PathBuf>,
    /// How long an unused ControlMaster is kept.
    pub control_persist: Duration,
    pub connect_timeout_secs: u32,
    pub keepalive_interval_secs: u32,
    /// Time a command gets between SIGTERM and SIGKILL when it is stopped.
    pub kill_grace: Duration,
    /// Sessions and forwards one connection may hold at once (`connection/masters`).
    pub max_long_lived: usize,
    /// The user's policy (`trust::policy`): `$XDG_CONFIG_HOME/ssh-mcp/policy.toml`.
    pub policy_path: PathBuf,
    /// Disk all kept outputs may take (`outputs`).
    pub outputs_quota: u64,
}

/// The daemon's home directory (`$HOME`), against which an agent's `~/` in a local path (an
/// identity file, a config file, a transfer's local side) is expanded. The one place the daemon
/// reads it.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

/// Where the user's policy lives: `$XDG_CONFIG_HOME/ssh-mcp/policy.toml`, else
/// `~/.config/ssh-mcp/policy.toml` (an XDG variable that is not an absolute path is ignored,
/// as the XDG specification says).
pub fn policy_path() -> PathBuf {
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home_dir().map(|h| h.join(".config")))
        .unwrap_or_else(|| PathBuf::from("/nonexistent"));
    config_home.join("ssh-mcp").join("policy.toml")
}

impl Config {
    /// A configuration in `dir`, for unit tests.
    #[cfg(test)]
    pub fn for_tests(dir: &std::path::Path) -> Self {
        Self {
            socket_path: dir.join("s.sock"),
            state_dir: dir.to_path_buf(),
            control_dir: dir.join("c"),
            ssh_config: None,
            control_persist: Duration::from_secs(1),
            connect_timeout_secs: 1,
            keepalive_interval_secs: 1,
            kill_grace: Duration::from_secs(1),
            max_long_lived: 1,
            policy_path: dir.join("policy.toml"),
            outputs_quota: crate::outputs::DEFAULT_QUOTA_BYTES,
        }
    }

    pub fn new(
        socket_path: PathBuf,
        state_dir: PathBuf,
        ssh_config: Option<PathBuf>,
        control_persist_secs: u64,
        connect_timeout_secs: u32,
    ) -> anyhow::Result<Self> {
        let control_dir = paths::control_dir(&socket_path);
        let longest = control_dir.join(crate::connection::control_paths::LONGEST_NAME);
        paths::check_socket_path_len(&longest)?;
        if let Some(cfg) = &ssh_config {
            anyhow::ensure!(
                cfg.is_file(),
                "SSH_MCP_SSH_CONFIG / --ssh-config {} is not a readable file",
                cfg.display()
            );
        }
        Ok(Self {
            socket_path,
            state_dir,
            control_dir,
            ssh_config,
            control_persist: Duration::from_secs(control_persist_secs.max(1)),
            connect_timeout_secs: connect_timeout_secs.max(1),
            keepalive_interval_secs: 4,
            kill_grace: Duration::from_secs(2),
            max_long_lived: crate::connection::masters::DEFAULT_MAX_LONG_LIVED,
            policy_path: policy_path(),
            outputs_quota: crate::outputs::DEFAULT_QUOTA_BYTES,
        })
    }
}
