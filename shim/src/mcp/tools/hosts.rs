//! `ssh_hosts`: the hosts of the user's ssh configuration, as OpenSSH resolves them, with the
//! daemon's connection to each (`Hosts.List`).

use rmcp::handler::server::common::schema_for_output;
use rmcp::schemars::{self, JsonSchema};
use rmcp::{tool, tool_router};
use serde::{Deserialize, Serialize};
use ssh_mcp_wire::pb;

use super::call::{daemon_tool, mcp_entry};
use super::services::Hosts;
use crate::mcp::{result, schema};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::portable)]
pub struct HostsArgs {
    /// Glob over names, e.g. web*.
    pub filter: Option<String>,
    /// Also try to connect to each (10 s).
    pub probe: Option<bool>,
}

/// One host. Optional fields are absent rather than null (see `schema.rs`).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(transform = schema::portable)]
pub struct Host {
    /// The name to pass as target.
    pub name: String,
    /// Where ssh connects, after the configuration (`ssh -G`).
    pub hostname: String,
    pub user: String,
    pub port: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_jump: Option<String>,
    /// Where the name is first defined.
    pub file: String,
    pub line: u32,
    /// The daemon's connection: none, idle or busy.
    pub connection: String,
    pub channels_in_use: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_seconds: Option<f64>,
    /// ssh's message when it could not resolve the name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the policy says of running commands there: allow, ask or deny.
    pub policy: String,
    /// With probe: whether a connection opened (not tried where the policy denies commands).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reachable: Option<bool>,
    /// With probe: ssh's message when it could not connect, or why it was not tried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_error: Option<String>,
}

impl From<pb::HostInfo> for Host {
    fn from(h: pb::HostInfo) -> Self {
        Self {
            name: h.name,
            hostname: h.hostname,
            user: h.user,
            port: h.port,
            proxy_jump: h.proxy_jump,
            file: h.file,
            line: h.line,
            connection: h.connection,
            channels_in_use: h.channels_in_use,
            idle_seconds: h.idle_seconds,
            error: (!h.error.is_empty()).then_some(h.error),
            policy: h.policy,
            reachable: h.reachable,
            probe_error: (!h.probe_error.is_empty()).then_some(h.probe_error),
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(transform = schema::portable)]
pub struct HostList {
    pub count: usize,
    pub hosts: Vec<Host>,
    /// The configuration files read.
    pub files: Vec<String>,
    /// Files that could not be read, Includes not followed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

daemon_tool! {
    /// `ssh_hosts` on the one generic path (`call.rs`).
    SshHosts: Hosts::list(HostsArgs => pb::ListHostsRequest) -> pb::ListHostsReply,
    |args, _caller| pb::ListHostsRequest {
        filter: args.filter,
        probe: args.probe.unwrap_or(false),
        ssh_auth_sock: super::connection::caller_auth_sock(),
    },
    |reply| {
        let hosts: Vec<Host> = reply.hosts.into_iter().map(Host::from).collect();
        result::success(&HostList {
            count: hosts.len(),
            hosts,
            files: reply.files,
            problems: reply.problems,
        })
    }
}

mcp_entry! {
    ssh_hosts_router: ssh_hosts(HostsArgs) => call_unary::<SshHosts>,
    name = "ssh_hosts",
    description = "List the hosts of the user's ssh config (Includes followed), as ssh resolves them: use name as target.",
    title = "List configured hosts",
    output_schema = schema_for_output::<HostList>(),
    annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
}
