//! The connection parameters the seed's remote tools share (port, identity_file,
//! known_hosts_file, strict_host_key_checking, extra_ssh_args): their wording for the model, one
//! copy that every tool reuses, and their translation into the wire `Connection`. The daemon
//! validates them; the shim only carries them.

use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;
use ssh_mcp_wire::pb;

/// The descriptions of the shared parameters, for `#[schemars(description = ...)]`. Every tool
/// shows them to the model, so they stay short.
pub mod doc {
    pub const TARGET: &str = "host, ssh_config alias or user@host.";
    pub const STRICT_HOST_KEY_CHECKING: &str = "Boolean or yes, no, ask, accept-new, off.";
    pub const EXTRA_SSH_ARGS: &str = "Allowlisted ssh options, e.g. [\"-J\",\"jumphost\"].";
}

/// Declares the argument struct of a remote tool: `target` first, the tool's own fields, then
/// the connection parameters every remote tool shares (one copy of their schema and wording),
/// and `connection()`, their wire form.
macro_rules! remote_args {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$field_meta:meta])* pub $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            #[schemars(description = $crate::mcp::tools::connection::doc::TARGET)]
            pub target: String,
            $( $(#[$field_meta])* pub $field: $ty, )*
            #[schemars(range(min = 1, max = 65535))]
            pub port: Option<u32>,
            pub identity_file: Option<String>,
            pub known_hosts_file: Option<String>,
            #[schemars(description = $crate::mcp::tools::connection::doc::STRICT_HOST_KEY_CHECKING)]
            pub strict_host_key_checking:
                Option<$crate::mcp::tools::connection::HostKeyChecking>,
            #[schemars(description = $crate::mcp::tools::connection::doc::EXTRA_SSH_ARGS)]
            pub extra_ssh_args: Option<Vec<String>>,
        }

        impl $name {
            /// The wire `Connection` of these arguments (the daemon validates it).
            pub fn connection(&self) -> ssh_mcp_wire::pb::Connection {
                $crate::mcp::tools::connection::connection(
                    self.target.clone(),
                    self.port,
                    self.identity_file.clone(),
                    self.known_hosts_file.clone(),
                    self.strict_host_key_checking.clone(),
                    self.extra_ssh_args.clone(),
                )
            }
        }
    };
}
pub(crate) use remote_args;

/// `strict_host_key_checking`: a boolean or one of yes, no, ask, accept-new, off.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(inline)]
pub enum HostKeyChecking {
    Flag(bool),
    Word(String),
}

impl HostKeyChecking {
    fn as_word(&self) -> String {
        match self {
            Self::Flag(true) => "yes".into(),
            Self::Flag(false) => "no".into(),
            Self::Word(w) => w.clone(),
        }
    }
}

/// The caller's agent socket, passed with each request so the daemon's ssh can use it.
pub(crate) fn caller_auth_sock() -> Option<String> {
    std::env::var("SSH_AUTH_SOCK")
        .ok()
        .filter(|s| !s.is_empty())
}

pub fn connection(
    target: String,
    port: Option<u32>,
    identity_file: Option<String>,
    known_hosts_file: Option<String>,
    strict: Option<HostKeyChecking>,
    extra_ssh_args: Option<Vec<String>>,
) -> pb::Connection {
    pb::Connection {
        target,
        port,
        identity_file,
        known_hosts_file,
        strict_host_key_checking: strict.as_ref().map(HostKeyChecking::as_word),
        extra_ssh_args: extra_ssh_args.unwrap_or_default(),
        ssh_auth_sock: caller_auth_sock(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn strict(v: serde_json::Value) -> Option<String> {
        let parsed: HostKeyChecking = serde_json::from_value(v).unwrap();
        connection("h".into(), None, None, None, Some(parsed), None).strict_host_key_checking
    }

    #[test]
    fn strict_host_key_checking_as_boolean_and_as_word() {
        assert_eq!(strict(json!(true)).as_deref(), Some("yes"));
        assert_eq!(strict(json!(false)).as_deref(), Some("no"));
        assert_eq!(strict(json!("accept-new")).as_deref(), Some("accept-new"));
        // Words are the daemon's to check; the shim passes them as they are.
        assert_eq!(strict(json!("No")).as_deref(), Some("No"));
        assert!(serde_json::from_value::<HostKeyChecking>(json!(1)).is_err());
    }

    #[test]
    fn absent_options_are_absent_on_the_wire() {
        let c = connection("user@h".into(), None, None, None, None, None);
        assert_eq!(c.target, "user@h");
        assert_eq!(c.port, None);
        assert_eq!(c.identity_file, None);
        assert_eq!(c.known_hosts_file, None);
        assert_eq!(c.strict_host_key_checking, None);
        assert!(c.extra_ssh_args.is_empty());
    }

    #[test]
    fn given_options_are_carried_unchanged() {
        let c = connection(
            "h".into(),
            Some(2222),
            Some("~/.ssh/id".into()),
            Some("/k".into()),
            None,
            Some(vec!["-J".into(), "jump".into()]),
        );
        assert_eq!(c.port, Some(2222));
        assert_eq!(c.identity_file.as_deref(), Some("~/.ssh/id"));
        assert_eq!(c.known_hosts_file.as_deref(), Some("/k"));
        assert_eq!(c.extra_ssh_args, ["-J", "jump"]);
    }
}
