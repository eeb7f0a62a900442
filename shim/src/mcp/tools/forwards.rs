//! The forward tools: ssh_forward (drop-in for the seed's, plus `dynamic`, `forward_name` and
//! `allow_non_loopback`), ssh_list_forwards and ssh_stop_forward. Forwards live in the daemon,
//! on its ControlMasters, so they outlive this client; any client lists and stops them.

use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::schemars::{self, JsonSchema};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, tool, tool_router};
use serde::{Deserialize, Serialize};
use ssh_mcp_wire::pb::{self, forwards_client::ForwardsClient};
use tonic::transport::Channel;

use super::connection::remote_args;
use crate::mcp::{SshMcp, result, schema};

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

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::portable)]
pub struct ListArgs {
    /// Also list ended forwards (kept an hour).
    pub include_stopped: Option<bool>,
    pub target: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StopArgs {
    pub forward_id: String,
}

/// One forward. Optional values are absent rather than null.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(inline, transform = schema::portable)]
pub struct Forward {
    pub forward_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward_name: Option<String>,
    pub target: String,
    pub direction: String,
    pub local_port: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_port: Option<u32>,
    pub bind_address: String,
    /// Where it listens, e.g. 127.0.0.1:8080 or [::1]:8080.
    pub listen: String,
    /// true (remote): listen is what sshd was asked for; its GatewayPorts decides the bind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen_requested: Option<bool>,
    pub connect: String,
    pub running: bool,
    pub uptime_seconds: f64,
    /// Why it ended: stopped, connection-lost: ..., daemon-stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl From<pb::ForwardSnapshot> for Forward {
    fn from(f: pb::ForwardSnapshot) -> Self {
        Self {
            forward_id: f.forward_id,
            forward_name: f.forward_name,
            target: f.target,
            direction: f.direction,
            local_port: f.local_port,
            remote_host: f.remote_host,
            remote_port: f.remote_port,
            bind_address: f.bind_address,
            listen: f.listen,
            listen_requested: f.listen_requested.then_some(true),
            connect: f.connect,
            running: f.running,
            uptime_seconds: f.uptime_seconds,
            ended_reason: f.ended_reason,
            warning: f.warning,
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

/// ssh_stop_forward's answer.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(transform = schema::portable)]
pub struct Stopped {
    #[serde(flatten)]
    pub forward: Forward,
    pub was_running: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(transform = schema::portable)]
pub struct ForwardList {
    pub count: usize,
    pub forwards: Vec<Forward>,
}

pub(super) fn open_request(a: ForwardArgs) -> pb::OpenForwardRequest {
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

/// The seed's error types for forwards: an unknown id is `forward_not_found`; a port or name
/// clash, or ssh refusing to listen, is `forward_failed`.
fn from_forward_status(status: &tonic::Status) -> CallToolResult {
    use tonic::Code;
    match status.code() {
        Code::NotFound => result::failure("forward_not_found", status.message().to_owned()),
        Code::FailedPrecondition => result::failure("forward_failed", status.message().to_owned()),
        _ => result::from_status(status),
    }
}

impl SshMcp {
    /// One unary call to the Forwards service (`SshMcp::unary`), with the forward tools' error
    /// types.
    async fn forwards_call<T, F, Fut>(
        &self,
        ctx: &RequestContext<RoleServer>,
        call: F,
    ) -> Result<T, CallToolResult>
    where
        F: Fn(ForwardsClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.unary(ctx, ForwardsClient::new, call, from_forward_status)
            .await
    }
}

#[tool_router(router = forward_tools, vis = "pub(crate)")]
impl SshMcp {
    #[tool(
        name = "ssh_forward",
        description = "Open a port forward owned by the daemon: it outlives this client. A busy port fails at once.",
        title = "Open a port forward",
        output_schema = schema_for_output::<Opened>(),
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true)
    )]
    async fn ssh_forward(
        &self,
        Parameters(args): Parameters<ForwardArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let request = open_request(args);
        let reply = self
            .forwards_call(&ctx, |mut c| {
                let r = request.clone();
                async move { c.open(r).await }
            })
            .await;
        Ok(match reply {
            Ok(r) => match r.forward {
                Some(f) => result::success(&Opened {
                    forward: f.into(),
                    created: r.created,
                }),
                None => result::failure("internal_error", "the daemon sent no forward".into()),
            },
            Err(failure) => failure,
        })
    }

    #[tool(
        name = "ssh_list_forwards",
        description = "List the daemon's port forwards, with whether each runs and why it ended.",
        title = "List port forwards",
        output_schema = schema_for_output::<ForwardList>(),
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn ssh_list_forwards(
        &self,
        Parameters(args): Parameters<ListArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let request = pb::ListForwardsRequest {
            include_stopped: args.include_stopped.unwrap_or(false),
            target: args.target,
        };
        let reply = self
            .forwards_call(&ctx, |mut c| {
                let r = request.clone();
                async move { c.list(r).await }
            })
            .await;
        Ok(match reply {
            Ok(r) => {
                let forwards: Vec<Forward> = r.forwards.into_iter().map(Forward::from).collect();
                result::success(&ForwardList {
                    count: forwards.len(),
                    forwards,
                })
            }
            Err(failure) => failure,
        })
    }

    #[tool(
        name = "ssh_stop_forward",
        description = "Stop a port forward: its port is closed when this returns.",
        title = "Stop a port forward",
        output_schema = schema_for_output::<Stopped>(),
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn ssh_stop_forward(
        &self,
        Parameters(args): Parameters<StopArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let request = pb::StopForwardRequest {
            forward_id: args.forward_id,
        };
        let reply = self
            .forwards_call(&ctx, |mut c| {
                let r = request.clone();
                async move { c.stop(r).await }
            })
            .await;
        Ok(match reply {
            Ok(r) => match r.forward {
                Some(f) => result::success(&Stopped {
                    forward: f.into(),
                    was_running: r.was_running,
                }),
                None => result::failure("internal_error", "the daemon sent no forward".into()),
            },
            Err(failure) => failure,
        })
    }
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

    #[test]
    fn unknown_ids_take_the_seeds_error_type() {
        let r = from_forward_status(&tonic::Status::not_found("Unknown forward_id 'x'."));
        assert_eq!(
            r.structured_content.unwrap()["error_type"],
            "forward_not_found"
        );
    }
}
