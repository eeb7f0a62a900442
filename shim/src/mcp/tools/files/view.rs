//! `ssh_view`: a remote file's content (a range, numbered lines, a cut at max_bytes) or a
//! directory listed two levels deep (`Files.View`).

use rmcp::handler::server::common::schema_for_output;
use rmcp::schemars::{self, JsonSchema};
use rmcp::{tool, tool_router};
use serde::{Deserialize, Serialize};
use ssh_mcp_wire::pb;

use super::fdoc;
use crate::mcp::tools::call::{daemon_tool, mcp_entry};
use crate::mcp::tools::connection::remote_args;
use crate::mcp::tools::services::Files;
use crate::mcp::tools::text::text_and_exact;
use crate::mcp::{result, schema};

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

fn view_request(a: ViewArgs) -> pb::ViewRequest {
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

daemon_tool! {
    /// `ssh_view` on the one generic path (`call.rs`).
    SshView: Files::view(ViewArgs => pb::ViewRequest) -> pb::ViewResult,
    |args, _caller| view_request(args),
    |reply| result::success(&ViewResult::from(reply))
}

mcp_entry! {
    ssh_view_router: ssh_view(ViewArgs) => call_unary::<SshView>,
    name = "ssh_view",
    description = "Read a remote file or list a directory (2 levels, no hidden entries). Without view_range a file is cut at max_bytes; page with view_range.",
    title = "View a remote file",
    output_schema = schema_for_output::<ViewResult>(),
    annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = true)
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
