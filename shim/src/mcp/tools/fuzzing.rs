//! The fuzz targets' way into the tools (`fuzz/`, feature `fuzzing`): a `tools/call` params
//! object decoded as rmcp decodes it (the `arguments` object, through `serde_json::from_value`,
//! into the tool's argument struct), then turned into the request the tool sends to the daemon,
//! encoded as it goes on the wire. The daemon's half (`ssh_mcpd::grpc::fuzzing::tool_request`) takes
//! it from there.

use prost::Message;
use rmcp::handler::server::common::schema_for_type;
use rmcp::model::{CallToolRequestParams, JsonObject};
use rmcp::schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::call::{Caller, Tool};
use super::exec::SshExec;
use super::files::{create::SshCreate, edit::SshEdit, view::SshView};
use super::forwards::{forward::SshForward, list::SshListForwards, stop::SshStopForward};
use super::hosts::SshHosts;
use super::jobs::{SshListJobs, SshStopJob};
use super::outputs::SshReadOutput;
use super::search::{glob::SshGlob, grep::SshGrep};
use super::sessions::{
    list::SshListSessions, open::Open, read::SshReadSession, run::SshRunInSession,
    stop::SshStopSession, write::SshWriteSession,
};
use super::transfers::{scp::SshScp, sync::SshSync};

/// A reader id as the shim makes them (16 hex digits).
const READER_ID: &str = "00112233445566ff";

/// What one tool call becomes: the tool's name and its daemon request as protobuf bytes (every
/// tool sends one; `None` is kept for a tool that would send none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolRequest {
    pub tool: String,
    pub request: Option<Vec<u8>>,
}

/// Decodes `json` as the params of a `tools/call` and its arguments as the named tool would.
/// `None` when rmcp or the tool would refuse the call (bad JSON, an unknown tool, arguments its
/// struct refuses). Panics when arguments that the struct accepts disagree with the schema
/// that tools/list publishes for it: a name outside its `properties`, or a `required` one missing.
pub fn tool_call(json: &[u8]) -> Option<ToolRequest> {
    let params: CallToolRequestParams = serde_json::from_slice(json).ok()?;
    let args = params.arguments.unwrap_or_default();
    let tool = params.name.into_owned();
    let request = match tool.as_str() {
        "ssh_exec" => encode::<SshExec>(&args)?,
        "ssh_view" => encode::<SshView>(&args)?,
        "ssh_create" => encode::<SshCreate>(&args)?,
        "ssh_edit" => encode::<SshEdit>(&args)?,
        "ssh_forward" => encode::<SshForward>(&args)?,
        "ssh_list_forwards" => encode::<SshListForwards>(&args)?,
        "ssh_stop_forward" => encode::<SshStopForward>(&args)?,
        "ssh_grep" => encode::<SshGrep>(&args)?,
        "ssh_glob" => encode::<SshGlob>(&args)?,
        "ssh_run_in_session" => encode::<SshRunInSession>(&args)?,
        "ssh_start_session" => encode::<Open<false>>(&args)?,
        "ssh_ensure_session" => encode::<Open<true>>(&args)?,
        "ssh_read_session" => encode::<SshReadSession>(&args)?,
        "ssh_write_session" => encode::<SshWriteSession>(&args)?,
        "ssh_stop_session" => encode::<SshStopSession>(&args)?,
        "ssh_list_sessions" => encode::<SshListSessions>(&args)?,
        "ssh_scp" => encode::<SshScp>(&args)?,
        "ssh_sync" => encode::<SshSync>(&args)?,
        "ssh_read_output" => encode::<SshReadOutput>(&args)?,
        "ssh_stop_job" => encode::<SshStopJob>(&args)?,
        "ssh_list_jobs" => encode::<SshListJobs>(&args)?,
        "ssh_hosts" => encode::<SshHosts>(&args)?,
        // Many daemon calls, one per target: its arguments are decoded and checked here.
        "ssh_exec_many" => {
            decode::<super::exec_many::ExecManyArgs>(&args)?;
            None
        }
        _ => return None,
    };
    Some(ToolRequest { tool, request })
}

/// The tool names [`tool_call`] knows, which are all the tools the server lists.
pub const TOOLS: &[&str] = &[
    "ssh_exec",
    "ssh_view",
    "ssh_create",
    "ssh_edit",
    "ssh_forward",
    "ssh_list_forwards",
    "ssh_stop_forward",
    "ssh_grep",
    "ssh_glob",
    "ssh_run_in_session",
    "ssh_start_session",
    "ssh_ensure_session",
    "ssh_read_session",
    "ssh_write_session",
    "ssh_stop_session",
    "ssh_list_sessions",
    "ssh_scp",
    "ssh_sync",
    "ssh_read_output",
    "ssh_stop_job",
    "ssh_list_jobs",
    "ssh_hosts",
    "ssh_exec_many",
];

/// The request tool `T` sends for `args` (with progress asked for), encoded as on the wire;
/// `None` when its arguments are refused.
fn encode<T>(args: &JsonObject) -> Option<Option<Vec<u8>>>
where
    T: Tool,
    T::Args: DeserializeOwned + JsonSchema + 'static,
    T::Request: Message,
{
    let caller = Caller {
        reader_id: READER_ID,
        progress: true,
    };
    Some(Some(T::request(decode(args)?, caller).encode_to_vec()))
}

/// `args` as rmcp hands them to a tool taking `Parameters<T>`, checked against `T`'s schema.
fn decode<T: DeserializeOwned + JsonSchema + 'static>(args: &JsonObject) -> Option<T> {
    let decoded = serde_json::from_value::<T>(Value::Object(args.clone())).ok()?;
    let schema = schema_for_type::<T>();
    let properties = schema.get("properties").and_then(Value::as_object);
    for name in args.keys() {
        assert!(
            properties.is_some_and(|p| p.contains_key(name)),
            "{}: accepted the argument {name:?}, which its schema does not list",
            std::any::type_name::<T>()
        );
    }
    let required = schema.get("required").and_then(Value::as_array);
    for name in required.into_iter().flatten().filter_map(Value::as_str) {
        assert!(
            args.get(name).is_some_and(|v| !v.is_null()),
            "{}: accepted arguments without {name:?}, which its schema requires",
            std::any::type_name::<T>()
        );
    }
    Some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::SshMcp;

    #[test]
    fn every_listed_tool_is_decoded() {
        let link = std::sync::Arc::new(crate::daemon_link::DaemonLink::from_env());
        let server = SshMcp::new(link);
        let mut listed: Vec<String> = server
            .tool_router
            .list_all()
            .into_iter()
            .map(|t| t.name.into_owned())
            .collect();
        listed.sort();
        let mut known: Vec<&str> = TOOLS.to_vec();
        known.sort();
        assert_eq!(listed, known);
        for tool in TOOLS {
            let call = format!(r#"{{"name":"{tool}","arguments":{{"no_such_argument":1}}}}"#);
            assert_eq!(tool_call(call.as_bytes()), None, "{tool}");
        }
    }
}
