//! The connection parameters the seed's remote tools share (port, identity_file,
//! known_hosts_file, strict_host_key_checking, extra_ssh_args), and their translation into the
//! wire `Connection`. The daemon validates them; the shim only carries them.

use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;
use ssh_mcp_core::pb;

/// `strict_host_key_checking`: a boolean or one of yes, no, ask, accept-new, off.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
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
fn caller_auth_sock() -> Option<String> {
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
