//! Everything about talking to OpenSSH, as pure functions: agent input is parsed into validated
//! types and only [`argv`] turns those types into a command line. Nothing here spawns a process.
//!
//! - [`options`]: what an ssh command line may carry ([`options::target::Target`],
//!   [`options::extra_ssh_args::ExtraSshArgs`] and its allowlist,
//!   [`options::connection::Connection`]).
//! - [`transfers`]: what a transfer may carry (its paths, `extra_rsync_args` and their allowlist).
//! - [`argv`]: the only place that builds an ssh, scp or rsync command line.
//! - [`mux`]: OpenSSH's multiplexing protocol, and the port forwards asked of a master through it.
//! - [`remote`]: what runs on the host: the command strings, the scripts and their quoting.
//! - [`binaries`]: which local `ssh`, `scp`, `rsync` and `tmux` to run.
//! - [`config`]: the hosts of the user's ssh configuration (its `Host` names, `Include`s
//!   followed), for `ssh_hosts`; the one place here that reads files.

pub mod argv;
pub mod binaries;
pub mod config;
pub mod mux;
pub mod options;
pub mod remote;
pub mod transfers;

/// A refusal of agent input. The message says which field, what is wrong and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

impl InvalidInput {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Refuses NUL and other control characters, which no field that reaches a command line may hold.
pub(crate) fn reject_control_chars(field: &str, value: &str) -> Result<(), InvalidInput> {
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(InvalidInput(format!(
            "'{field}' contains the control character {c:?}; remove it"
        )));
    }
    Ok(())
}
