//! [`DaemonError`]: every way a request can fail, carrying the input or ssh message that explains
//! it. `grpc/status.rs` is the one place that turns these into wire statuses.

use ssh_mcp_core::ssh::InvalidInput;
use ssh_mcp_core::ssh::binaries::BinaryError;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error(transparent)]
    Binary(#[from] BinaryError),
    #[error("ssh could not connect to {target}: {detail}. {hint}")]
    Connect {
        target: String,
        detail: String,
        hint: &'static str,
    },
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("cannot run the command over the ssh connection: {0}")]
    Mux(String),
    #[error("the command was cancelled")]
    Cancelled,
    #[error("ssh-mcpd is shutting down; retry once it is back")]
    ShuttingDown,
    /// No session has this id.
    #[error("Unknown session_id '{0}'.")]
    UnknownSession(String),
    /// The request conflicts with the sessions there are (a name taken, several matches).
    #[error("{0}")]
    SessionConflict(String),
    /// The session has ended or cannot take input any more.
    #[error("{0}")]
    SessionGone(String),
    /// A file tool's operation on a remote path failed (missing, not a file, exists, changed);
    /// the message is the seed's wording, naming the path.
    #[error("{0}")]
    RemoteFile(String),
    /// No forward has this id.
    #[error("Unknown forward_id '{0}'.")]
    UnknownForward(String),
    /// A forward could not open: its port is taken, its name is used, or ssh refused.
    #[error("{0}")]
    Forward(String),
    /// No kept output has this id (expired, pushed out by the quota, or never there).
    #[error("{0}")]
    UnknownOutput(String),
    /// A per-connection limit is reached (sessions and forwards holding their channels).
    #[error("{0}")]
    LimitReached(String),
    /// The user's policy refuses the call (see `trust::policy`).
    #[error("{0}")]
    PolicyDenied(String),
    /// The policy asks a person first: `question` is what the person is shown, `challenge`
    /// what the approved retry must bring back (`trust::approval`).
    #[error("{question}")]
    ApprovalRequired { challenge: String, question: String },
    #[error("{0}")]
    Internal(String),
}

/// What to check, from the words of ssh's own error.
pub fn connect_hint(stderr: &str) -> &'static str {
    let s = stderr.to_ascii_lowercase();
    if s.contains("permission denied") || s.contains("too many authentication failures") {
        "Check the user, the key (identity_file or your ssh-agent) and the remote authorized_keys; \
         ssh-mcp runs ssh in batch mode, so it cannot answer password or passphrase prompts"
    } else if s.contains("host key verification failed")
        || s.contains("remote host identification has changed")
    {
        "The host key is unknown or has changed: verify it and add it to known_hosts \
         (or pass known_hosts_file / strict_host_key_checking)"
    } else if s.contains("could not resolve hostname") || s.contains("name or service not known") {
        "Check the host name, or the Host alias in your ssh config"
    } else if s.contains("connection refused") {
        "Nothing accepts ssh connections there: check that sshd runs and the port is right"
    } else if s.contains("timed out")
        || s.contains("no route to host")
        || s.contains("network is unreachable")
    {
        "The host did not answer: check the address, the port, the network and any firewall"
    } else {
        "Run `ssh <target>` in a terminal to see what the connection needs"
    }
}
