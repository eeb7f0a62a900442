//! `ssh_create`: a new remote file with exactly the given content, made by an exclusive open
//! (`Files.Create`).

use rmcp::handler::server::common::schema_for_output;
use rmcp::schemars::{self, JsonSchema};
use rmcp::{tool, tool_router};
use serde::{Deserialize, Serialize};
use ssh_mcp_wire::pb;

use super::fdoc;
use crate::mcp::tools::call::{daemon_tool, mcp_entry};
use crate::mcp::tools::connection::remote_args;
use crate::mcp::tools::services::Files;
use crate::mcp::{result, schema};

remote_args! {
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::portable)]
pub struct CreateArgs {
    #[schemars(description = fdoc::PATH)]
    pub path: String,
    /// The whole content, written as is.
    pub content: String,
    /// Make missing parent directories.
    pub make_parents: Option<bool>,
    #[schemars(description = fdoc::TIMEOUT)]
    pub timeout: Option<f64>,
}
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(transform = schema::portable)]
pub struct CreateResult {
    pub ok: bool,
    pub target: String,
    pub path: String,
    pub bytes_written: u64,
    /// Parent directories made (make_parents); absent when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directories_created: Option<u32>,
}

fn create_request(a: CreateArgs) -> pb::CreateRequest {
    pb::CreateRequest {
        connection: Some(a.connection()),
        path: a.path,
        content: a.content.into_bytes(),
        timeout_seconds: a.timeout,
        make_parents: a.make_parents.unwrap_or(false),
    }
}

daemon_tool! {
    /// `ssh_create` on the one generic path (`call.rs`).
    SshCreate: Files::create(CreateArgs => pb::CreateRequest) -> pb::CreateResult,
    |args, _caller| create_request(args),
    |reply| result::success(&CreateResult {
        ok: true,
        target: reply.target,
        path: reply.path,
        bytes_written: reply.bytes_written,
        directories_created: (reply.directories_created > 0)
            .then_some(reply.directories_created),
    })
}

mcp_entry! {
    ssh_create_router: ssh_create(CreateArgs) => call_unary::<SshCreate>,
    name = "ssh_create",
    description = "Create a new remote file with exactly this content. Fails if the path exists or its directory does not.",
    title = "Create a remote file",
    output_schema = schema_for_output::<CreateResult>(),
    annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unknown_fields_are_refused() {
        assert!(
            serde_json::from_value::<CreateArgs>(
                json!({"target": "h", "path": "p", "content": "", "mode": 1})
            )
            .is_err()
        );
    }

    #[test]
    fn create_content_goes_as_its_utf8_bytes() {
        let a: CreateArgs =
            serde_json::from_value(json!({"target": "h", "path": "p", "content": "caf\u{e9}\r\n"}))
                .unwrap();
        let r = create_request(a);
        assert_eq!(r.content, b"caf\xc3\xa9\r\n");
        assert!(!r.make_parents);
        let a: CreateArgs = serde_json::from_value(
            json!({"target": "h", "path": "p", "content": "", "make_parents": true}),
        )
        .unwrap();
        assert!(create_request(a).make_parents);
    }
}
