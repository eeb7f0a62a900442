//! The wire protocol number the shim and the daemon compare in their handshake.
//!
//! Bump [`PROTOCOL_VERSION`] whenever a change to `proto/` would make an older peer misread a
//! message (a field changes meaning, a required behaviour changes). Adding a field that an older
//! peer may ignore does not need a bump. The rule is strict equality: a shim replaces a daemon of
//! any other protocol rather than guessing what it understands.

/// The protocol spoken by this build.
pub const PROTOCOL_VERSION: u32 = 4;

/// The package version, shown by `--version` and by the Status call.
pub const PACKAGE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The gRPC header in which the shim names the MCP client it serves (`name/version` from the
/// client's `initialize`); the daemon records it as the caller of each call. Optional: a call
/// without it is still served.
pub const CLIENT_HEADER: &str = "ssh-mcp-client";

/// The gRPC header in which the shim names the MCP tool a call serves (`ssh_exec`, …), for the
/// audit trail. Optional: a call without it is recorded under its gRPC method.
pub const TOOL_HEADER: &str = "ssh-mcp-tool";

/// The gRPC header of a retried call that a person approved: the daemon's challenge, as the
/// daemon issued it (see [`APPROVAL_CHALLENGE`]).
pub const APPROVAL_HEADER: &str = "ssh-mcp-approval";

/// A person's answer to the daemon's question, as the approval header carries it:
/// `<answer> <challenge>`. The shim writes it, the daemon reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalAnswer {
    Approved,
    Declined,
    /// The client can ask neither by elicitation nor by `input_required`.
    CannotAsk,
}

impl ApprovalAnswer {
    fn word(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Declined => "declined",
            Self::CannotAsk => "cannot-ask",
        }
    }

    /// The approval header for `challenge`.
    pub fn header(self, challenge: &str) -> String {
        format!("{} {challenge}", self.word())
    }

    /// Splits an approval header into the answer and the challenge.
    pub fn parse(header: &str) -> Option<(Self, &str)> {
        let (word, challenge) = header.split_once(' ')?;
        [Self::Approved, Self::Declined, Self::CannotAsk]
            .into_iter()
            .find(|a| a.word() == word)
            .map(|a| (a, challenge))
    }
}

/// The status metadata key with which the daemon asks for a person's approval: its value is a
/// challenge bound to that one call (single use, expiring, signed by the daemon).
pub const APPROVAL_CHALLENGE: &str = "ssh-mcp-approval-challenge";

/// The tool error type of a daemon status code: the one mapping the shim answers agents with
/// and the daemon's audit trail records.
pub fn error_type(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::InvalidArgument => "validation_error",
        Code::Unavailable => "connection_error",
        Code::FailedPrecondition => "configuration_error",
        Code::Cancelled => "cancelled",
        Code::NotFound => "not_found",
        Code::Aborted => "remote_file_error",
        Code::ResourceExhausted => "limit_reached",
        Code::PermissionDenied => "policy_denied",
        Code::Unimplemented => "daemon_outdated",
        _ => "internal_error",
    }
}

/// Whether a peer that reports `peer_protocol` can be talked to by this build.
pub fn is_compatible(peer_protocol: u32) -> bool {
    peer_protocol == PROTOCOL_VERSION
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_approval_header_reads_back_as_written() {
        for a in [
            ApprovalAnswer::Approved,
            ApprovalAnswer::Declined,
            ApprovalAnswer::CannotAsk,
        ] {
            assert_eq!(ApprovalAnswer::parse(&a.header("T.S")), Some((a, "T.S")));
        }
        assert_eq!(ApprovalAnswer::parse("yes T"), None);
        assert_eq!(ApprovalAnswer::parse("approved"), None);
    }

    #[test]
    fn only_the_same_protocol_is_compatible() {
        assert!(is_compatible(PROTOCOL_VERSION));
        assert!(!is_compatible(PROTOCOL_VERSION + 1));
        assert!(!is_compatible(0));
    }
}
