//! `ssh_list_sessions`: every session of every client, running or ended (`Sessions.List`).

use rmcp::handler::server::common::schema_for_output;
use rmcp::schemars::{self, JsonSchema};
use rmcp::{tool, tool_router};
use serde::Deserialize;
use ssh_mcp_wire::pb;

use crate::mcp::tools::call::{daemon_tool, mcp_entry};
use crate::mcp::tools::connection::doc;
use crate::mcp::tools::services::Sessions;
use crate::mcp::tools::session_result::SessionList;
use crate::mcp::{result, schema};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::portable)]
pub struct ListArgs {
    /// Default true.
    pub include_exited: Option<bool>,
    #[schemars(description = doc::TARGET)]
    pub target: Option<String>,
    pub session_name: Option<String>,
}

fn list_request(args: ListArgs) -> pb::ListSessionsRequest {
    pb::ListSessionsRequest {
        include_exited: args.include_exited.unwrap_or(true),
        target: args.target,
        session_name: args.session_name,
    }
}

daemon_tool! {
    /// `ssh_list_sessions` on the one generic path (`call.rs`).
    SshListSessions: Sessions::list(ListArgs => pb::ListSessionsRequest) -> pb::ListSessionsReply,
    |args, _caller| list_request(args),
    |reply| result::success(&SessionList::from(reply))
}

mcp_entry! {
    ssh_list_sessions_router: ssh_list_sessions(ListArgs) => call_unary::<SshListSessions>,
    name = "ssh_list_sessions",
    description = "List the sessions of all clients: session_id, session_name, target, state, observer.",
    title = "List sessions",
    output_schema = schema_for_output::<SessionList>(),
    annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::mcp::tools::sessions::parse;

    #[test]
    fn list_includes_exited_sessions_unless_told_not_to() {
        assert!(list_request(parse(json!({})).unwrap()).include_exited);
        let r = list_request(
            parse(json!({"include_exited": false, "target": "h", "session_name": "n"})).unwrap(),
        );
        assert!(!r.include_exited);
        assert_eq!(
            (r.target.as_deref(), r.session_name.as_deref()),
            (Some("h"), Some("n"))
        );
    }

    #[test]
    fn a_null_for_an_optional_parameter_means_absent() {
        let r = list_request(
            parse(json!({"include_exited": null, "target": null, "session_name": null})).unwrap(),
        );
        assert!(r.include_exited);
    }

    #[test]
    fn an_unknown_parameter_is_refused() {
        assert!(parse::<ListArgs>(json!({"all": true})).is_err());
    }
}
