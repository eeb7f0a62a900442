//! The remote file tools (drop-in for the seed's ssh_view, ssh_create and ssh_edit, plus
//! `line_numbers` for views and `replace_all` for edits): arguments become `Files` requests; the
//! daemon does the work over SFTP. Content crosses gRPC as bytes; a view returns it as text,
//! plus `content_base64` when the bytes are not valid UTF-8.

use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::schemars::{self, JsonSchema};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, tool, tool_router};
use serde::{Deserialize, Serialize};
use ssh_mcp_wire::pb;
use ssh_mcp_wire::pb::files_client::FilesClient;
use tonic::transport::Channel;

use super::connection::remote_args;
use super::exec::text_and_exact;
use crate::mcp::{SshMcp, result, schema};

/// The largest message either way: the daemon returns and takes at most 32 MiB of content.
const MAX_MESSAGE_BYTES: usize = 40 << 20;

/// Wording the file tools share (as `connection::doc` does for the connection parameters).
mod fdoc {
    pub const PATH: &str = "Remote path; relative and ~/ are from home.";
    pub const TIMEOUT: &str = "Seconds; default none.";
}

remote_args! {
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::portable)]
pub struct ViewArgs {
    #[schemars(description = fdoc::PATH)]
    pub path: String,
    /// [start, end] lines, 1-based; end -1 is end of file.
    pub view_range: Option<Vec<i64>>,
    /// Whole file, past max_bytes.
    pub force_read_large_files: Option<bool>,
    /// Cut-off without view_range (default 20480).
    #[schemars(range(min = 1))]
    pub max_bytes: Option<i64>,
    /// Prefix lines with numbers, as cat -n.
    pub line_numbers: Option<bool>,
    #[schemars(description = fdoc::TIMEOUT)]
    pub timeout: Option<f64>,
}
}

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

/// One directory entry, as the seed lists it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Entry {
    pub path: String,
    /// "directory" or "file".
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// A file's content or a directory's entries; optional fields are absent rather than null.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(transform = schema::portable)]
pub struct ViewResult {
    pub ok: bool,
    pub target: String,
    pub path: String,
    pub is_directory: bool,
    /// The file's bytes as UTF-8 (invalid sequences replaced; see content_base64).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The exact bytes, base64-encoded, present only when they are not valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_base64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// Lines in the file, a last line without newline included; absent when the rest of the file
    /// was not read (a cut view, or a range near the top of a file over 64 MiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_lines: Option<u64>,
    /// Part of the file (or of the listing) was left out.
    pub truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_line: Option<u64>,
    /// The last line shown (clamped to the end of the file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<Entry>>,
    /// Why the content stops early and how to see the rest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
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

impl From<pb::ViewResult> for ViewResult {
    fn from(v: pb::ViewResult) -> Self {
        let mut out = Self {
            ok: true,
            target: v.target,
            path: v.path,
            is_directory: v.is_directory,
            content: None,
            content_base64: None,
            size_bytes: None,
            total_lines: None,
            truncated: v.truncated,
            start_line: v.start_line,
            end_line: v.end_line,
            entries: None,
            note: v.note,
        };
        if v.is_directory {
            out.truncated = v.entries_truncated;
            out.entries = Some(
                v.entries
                    .into_iter()
                    .map(|e| Entry {
                        path: e.path,
                        kind: if e.is_directory { "directory" } else { "file" },
                    })
                    .collect(),
            );
        } else {
            let (text, exact) = text_and_exact(v.content);
            out.content = Some(text);
            out.content_base64 = exact;
            out.size_bytes = Some(v.size_bytes);
            out.total_lines = v.total_lines;
        }
        out
    }
}

pub(super) fn view_request(a: ViewArgs) -> pb::ViewRequest {
    pb::ViewRequest {
        connection: Some(a.connection()),
        path: a.path,
        view_range: a.view_range.unwrap_or_default(),
        force_read_large_files: a.force_read_large_files.unwrap_or(false),
        max_bytes: a.max_bytes,
        line_numbers: a.line_numbers.unwrap_or(false),
        timeout_seconds: a.timeout,
    }
}

pub(super) fn create_request(a: CreateArgs) -> pb::CreateRequest {
    pb::CreateRequest {
        connection: Some(a.connection()),
        path: a.path,
        content: a.content.into_bytes(),
        timeout_seconds: a.timeout,
        make_parents: a.make_parents.unwrap_or(false),
    }
}

pub(super) fn edit_request(a: EditArgs) -> pb::EditRequest {
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

impl SshMcp {
    /// One unary call to the Files service (`SshMcp::unary`). A cancelled call returns at once;
    /// the daemon still finishes (or undoes) what it started, so a file is never left half-edited.
    async fn files_call<T, F, Fut>(
        &self,
        ctx: &RequestContext<RoleServer>,
        call: F,
    ) -> Result<T, CallToolResult>
    where
        F: Fn(FilesClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.unary(
            ctx,
            |channel| {
                FilesClient::new(channel)
                    .max_decoding_message_size(MAX_MESSAGE_BYTES)
                    .max_encoding_message_size(MAX_MESSAGE_BYTES)
            },
            call,
            result::from_status,
        )
        .await
    }
}

#[tool_router(router = file_tools, vis = "pub(crate)")]
impl SshMcp {
    #[tool(
        name = "ssh_view",
        description = "Read a remote file or list a directory (2 levels, no hidden entries). Without view_range a file is cut at max_bytes; page with view_range.",
        title = "View a remote file",
        output_schema = schema_for_output::<ViewResult>(),
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = true)
    )]
    async fn ssh_view(
        &self,
        Parameters(args): Parameters<ViewArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let request = view_request(args);
        let reply = self
            .files_call(&ctx, |mut c| {
                let r = request.clone();
                async move { c.view(r).await }
            })
            .await;
        Ok(match reply {
            Ok(v) => result::success(&ViewResult::from(v)),
            Err(failure) => failure,
        })
    }

    #[tool(
        name = "ssh_create",
        description = "Create a new remote file with exactly this content. Fails if the path exists or its directory does not.",
        title = "Create a remote file",
        output_schema = schema_for_output::<CreateResult>(),
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true)
    )]
    async fn ssh_create(
        &self,
        Parameters(args): Parameters<CreateArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let request = create_request(args);
        let reply = self
            .files_call(&ctx, |mut c| {
                let r = request.clone();
                async move { c.create(r).await }
            })
            .await;
        Ok(match reply {
            Ok(c) => result::success(&CreateResult {
                ok: true,
                target: c.target,
                path: c.path,
                bytes_written: c.bytes_written,
                directories_created: (c.directories_created > 0).then_some(c.directories_created),
            }),
            Err(failure) => failure,
        })
    }

    #[tool(
        name = "ssh_edit",
        description = "Replace exact text in a remote file. Each old_str must match once (after earlier edits) unless replace_all, else nothing is written. Other bytes, owner, group and mode kept; atomic unless the result says why not.",
        title = "Edit a remote file",
        output_schema = schema_for_output::<EditResult>(),
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = true)
    )]
    async fn ssh_edit(
        &self,
        Parameters(args): Parameters<EditArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let request = edit_request(args);
        let reply = self
            .files_call(&ctx, |mut c| {
                let r = request.clone();
                async move { c.edit(r).await }
            })
            .await;
        Ok(match reply {
            Ok(e) => result::success(&EditResult {
                ok: true,
                target: e.target,
                path: e.path,
                edits_applied: e.edits_applied,
                replacements: e.replacements,
                bytes_written: e.bytes_written,
                atomic: e.atomic,
                note: e.note,
            }),
            Err(failure) => failure,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn view_arguments_reach_the_request() {
        let a: ViewArgs = serde_json::from_value(json!({
            "target": "h", "path": "~/a b", "view_range": [3, -1], "force_read_large_files": true,
            "max_bytes": 5, "line_numbers": true, "timeout": 2.5, "port": 2222
        }))
        .unwrap();
        let r = view_request(a);
        assert_eq!(r.path, "~/a b");
        assert_eq!(r.view_range, [3, -1]);
        assert!(r.force_read_large_files && r.line_numbers);
        assert_eq!((r.max_bytes, r.timeout_seconds), (Some(5), Some(2.5)));
        assert_eq!(r.connection.unwrap().port, Some(2222));
        let bare =
            view_request(serde_json::from_value(json!({"target": "h", "path": "p"})).unwrap());
        assert!(bare.view_range.is_empty() && !bare.line_numbers && bare.max_bytes.is_none());
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(
            serde_json::from_value::<CreateArgs>(
                json!({"target": "h", "path": "p", "content": "", "mode": 1})
            )
            .is_err()
        );
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

    #[test]
    fn a_file_view_has_content_and_base64_only_for_invalid_utf8() {
        let v = serde_json::to_value(ViewResult::from(pb::ViewResult {
            target: "h".into(),
            path: "p".into(),
            content: b"caf\xe9".to_vec(),
            size_bytes: 4,
            total_lines: Some(1),
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(v["content"], "caf\u{fffd}");
        assert_eq!(v["content_base64"], "Y2Fm6Q==");
        assert_eq!(
            (v["ok"].clone(), v["total_lines"].clone()),
            (json!(true), json!(1))
        );
        assert!(
            v.get("entries").is_none() && v.get("start_line").is_none(),
            "{v}"
        );
        let v = serde_json::to_value(ViewResult::from(pb::ViewResult {
            content: b"ok".to_vec(),
            ..Default::default()
        }))
        .unwrap();
        assert!(
            v.get("content_base64").is_none()
                && v.get("total_lines").is_none()
                && v.get("note").is_none(),
            "{v}"
        );
        let v = serde_json::to_value(ViewResult::from(pb::ViewResult {
            truncated: true,
            note: Some("Numbered lines stop after line 9".into()),
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(
            (v["truncated"].clone(), v["note"].clone()),
            (json!(true), json!("Numbered lines stop after line 9"))
        );
    }

    #[test]
    fn a_directory_view_lists_entries_with_the_seed_types() {
        let v = serde_json::to_value(ViewResult::from(pb::ViewResult {
            is_directory: true,
            entries: vec![
                pb::DirEntry {
                    path: "d/a".into(),
                    is_directory: true,
                },
                pb::DirEntry {
                    path: "d/b".into(),
                    is_directory: false,
                },
            ],
            entries_truncated: true,
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(
            v["entries"],
            json!([{"path": "d/a", "type": "directory"}, {"path": "d/b", "type": "file"}])
        );
        assert_eq!(v["truncated"], true);
        assert!(
            v.get("content").is_none() && v.get("size_bytes").is_none(),
            "{v}"
        );
    }
}
