//! `ssh_forward`: a port forward opened on one of the daemon's masters (`Forwards.Open`).

use rmcp::handler::server::common::schema_for_output;
use rmcp::schemars::{self, JsonSchema};
use rmcp::{tool, tool_router};
use serde::{Deserialize, Serialize};
use ssh_mcp_wire::pb;

use super::{Forward, forward_result};
use crate::mcp::schema;
use crate::mcp::tools::call::{daemon_tool, mcp_entry};
use crate::mcp::tools::connection::remote_args;
use crate::mcp::tools::services::Forwards;

remote_args! {
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::portable)]
pub struct ForwardArgs {
    /// local: listen here; remote: listen on the host; dynamic: SOCKS here.
    pub direction: Direction,
    /// Listening port.
    #[schemars(range(min = 1, max = 65535))]
    pub local_port: u32,
    /// Destination (not for dynamic).
    pub remote_host: Option<String>,
    #[schemars(range(min = 1, max = 65535))]
    pub remote_port: Option<u32>,
    /// Default 127.0.0.1.
    pub bind_address: Option<String>,
    /// Allow a non-loopback bind_address.
    pub allow_non_loopback: Option<bool>,
    /// Asking again returns the running forward.
    pub forward_name: Option<String>,
}
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum Direction {
    Local,
    Remote,
    Dynamic,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Remote => "remote",
            Self::Dynamic => "dynamic",
        }
    }
}

/// ssh_forward's answer: the forward, and whether this call opened it.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(transform = schema::portable)]
pub struct Opened {
    #[serde(flatten)]
    pub forward: Forward,
    /// false: a running forward of this forward_name was returned.
    pub created: bool,
}

fn open_request(a: ForwardArgs) -> pb::OpenForwardRequest {
    pb::OpenForwardRequest {
        connection: Some(a.connection()),
        direction: a.direction.as_str().to_owned(),
        local_port: Some(a.local_port),
        remote_host: a.remote_host,
        remote_port: a.remote_port,
        bind_address: a.bind_address,
        allow_non_loopback: a.allow_non_loopback.unwrap_or(false),
        forward_name: a.forward_name,
    }
}

daemon_tool! {
    /// `ssh_forward` on the one generic path (`call.rs`).
    SshForward: Forwards::open(ForwardArgs => pb::OpenForwardRequest) -> pb::OpenForwardReply,
    |args, _caller| open_request(args),
    |reply| forward_result(reply.forward, |forward| Opened {
        forward,
        created: reply.created,
    })
}

mcp_entry! {
    ssh_forward_router: ssh_forward(ForwardArgs) => call_unary::<SshForward>,
    name = "ssh_forward",
    description = "Open a port forward owned by the daemon: it outlives this client. A busy port fails at once.",
    title = "Open a port forward",
    output_schema = schema_for_output::<Opened>(),
    annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_parameter_reaches_the_request() {
        let a: ForwardArgs = serde_json::from_value(json!({
            "target": "h", "direction": "remote", "local_port": 8080, "remote_host": "db",
            "remote_port": 5432, "bind_address": "::1", "allow_non_loopback": true,
            "forward_name": "db", "port": 2222
        }))
        .unwrap();
        let r = open_request(a);
        assert_eq!(r.direction, "remote");
        assert_eq!((r.local_port, r.remote_port), (Some(8080), Some(5432)));
        assert_eq!(r.remote_host.as_deref(), Some("db"));
        assert_eq!(r.bind_address.as_deref(), Some("::1"));
        assert!(r.allow_non_loopback);
        assert_eq!(r.forward_name.as_deref(), Some("db"));
        assert_eq!(r.connection.unwrap().port, Some(2222));
    }

    #[test]
    fn a_bad_direction_or_unknown_field_is_refused() {
        let bad = json!({"target": "h", "direction": "sideways", "local_port": 1});
        assert!(serde_json::from_value::<ForwardArgs>(bad).is_err());
        let typo = json!({"target": "h", "direction": "local", "local_port": 1, "bind": "x"});
        assert!(serde_json::from_value::<ForwardArgs>(typo).is_err());
    }
}
