//! Everything about talking to OpenSSH, as pure functions: agent input is parsed into validated
//! types ([`target::Target`], [`options::ExtraSshArgs`], [`connection::Connection`], …) and only
//! [`argv`] turns those types into a command line. Nothing here spawns a process.

pub mod allowlist;
pub mod argv;
pub mod binaries;
pub mod connection;
pub mod forward;
pub mod login_shell;
pub mod mux;
pub mod options;
pub mod quote;
pub mod remote;
pub mod remote_orphans;
pub mod rsync_allowlist;
pub mod rsync_args;
pub mod target;
pub mod transfer_paths;

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
