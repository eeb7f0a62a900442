//! `ssh_edit`: exact replacements in a remote file, all or nothing, atomic where the file's
//! owner, group, links and attributes allow (`Files.Edit`).

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

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::portable)]
pub struct EditItem {
    pub old_str: String,
    pub new_str: String,
    /// Replace every match.
    pub replace_all: Option<bool>,
}

remote_args! {
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::portable)]
pub struct EditArgs {
    #[schemars(description = fdoc::PATH)]
    pub path: String,
    /// Applied in order.
    #[schemars(length(min = 1))]
    pub edits: Vec<EditItem>,
    #[schemars(description = fdoc::TIMEOUT)]
    pub timeout: Option<f64>,
}
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(transform = schema::portable)]
pub struct EditResult {
    pub ok: bool,
    pub target: String,
    pub path: String,
    pub edits_applied: u32,
    /// Occurrences replaced over all edits (more than one per edit only with replace_all).
    pub replacements: u64,
    /// Size of the file as written.
    pub bytes_written: u64,
    /// Replaced by one rename; false when rewritten in place to keep owner, group, links or
    /// attributes (note says why).
    pub atomic: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn edit_request(a: EditArgs) -> pb::EditRequest {
    pb::EditRequest {
        connection: Some(a.connection()),
        path: a.path,
        edits: a
            .edits
            .into_iter()
            .map(|e| pb::FileEdit {
                old_str: e.old_str,
                new_str: e.new_str,
                replace_all: e.replace_all.unwrap_or(false),
            })
            .collect(),
        timeout_seconds: a.timeout,
    }
}

daemon_tool! {
    /// `ssh_edit` on the one generic path (`call.rs`).
    SshEdit: Files::edit(EditArgs => pb::EditRequest) -> pb::EditResult,
    |args, _caller| edit_request(args),
    |reply| result::success(&EditResult {
        ok: true,
        target: reply.target,
        path: reply.path,
        edits_applied: reply.edits_applied,
        replacements: reply.replacements,
        bytes_written: reply.bytes_written,
        atomic: reply.atomic,
        note: reply.note,
    })
}

mcp_entry! {
    ssh_edit_router: ssh_edit(EditArgs) => call_unary::<SshEdit>,
    name = "ssh_edit",
    description = "Replace exact text in a remote file. Each old_str must match once (after earlier edits) unless replace_all, else nothing is written. Other bytes, owner, group and mode kept; atomic unless the result says why not.",
    title = "Edit a remote file",
    output_schema = schema_for_output::<EditResult>(),
    annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_value::<EditArgs>(json!({"target": "h", "path": "p", "edits": [{"old_str": "a", "new_str": "b", "x": 1}]})).is_err());
    }

    #[test]
    fn edits_keep_their_order_and_replace_all() {
        let a: EditArgs = serde_json::from_value(json!({
            "target": "h", "path": "p",
            "edits": [{"old_str": "a", "new_str": "b"}, {"old_str": "c", "new_str": "", "replace_all": true}]
        }))
        .unwrap();
        let r = edit_request(a);
        let got: Vec<(&str, &str, bool)> = r
            .edits
            .iter()
            .map(|e| (&*e.old_str, &*e.new_str, e.replace_all))
            .collect();
        assert_eq!(got, [("a", "b", false), ("c", "", true)]);
    }
}
