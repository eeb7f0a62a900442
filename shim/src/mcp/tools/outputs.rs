//! `ssh_read_output`: a page of a kept output, the whole of what a command printed when its
//! result could show only part (`Outputs.Read`). Pages are counted in bytes; text comes as text,
//! bytes that are not UTF-8 as base64 (`encoding`).

use base64::Engine;
use rmcp::handler::server::common::schema_for_output;
use rmcp::schemars::{self, JsonSchema};
use rmcp::{tool, tool_router};
use serde::{Deserialize, Serialize};
use ssh_mcp_wire::pb;

use super::call::{daemon_tool, mcp_entry};
use super::services::Outputs;
use super::text::lossy;
use crate::mcp::{result, schema};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::portable)]
pub struct ReadOutputArgs {
    /// output_id or job_id.
    pub output_id: String,
    /// stdout (default) or stderr.
    pub stream: Option<String>,
    /// Byte offset (default: after this client's last read).
    pub offset: Option<u64>,
    /// Page size in bytes (default 32768).
    pub max_bytes: Option<u64>,
    /// Jobs: seconds to wait for more output (max 60).
    pub wait_seconds: Option<f64>,
}

/// Optional fields are absent rather than null (see `schema.rs`).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(transform = schema::portable)]
pub struct OutputPage {
    pub ok: bool,
    pub output_id: String,
    pub stream: String,
    /// The page: text when encoding is utf-8 (never split inside a character), base64 of the
    /// bytes when they are not UTF-8.
    pub data: String,
    /// utf-8 or base64.
    pub encoding: String,
    /// Where the page starts, in bytes of the stream.
    pub offset: u64,
    /// Where the next page starts (the default offset of this client's next read).
    pub next_offset: u64,
    /// Bytes kept of the stream.
    pub total_bytes: u64,
    /// The page reaches the end of what was kept.
    pub eof: bool,
    /// Bytes the command wrote to the stream, kept or not.
    pub written_bytes: u64,
    /// Why the kept output stops short of what the command wrote, when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// For a job: whether it still runs, and how it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The signal ssh_stop_job ended the job with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
}

impl From<pb::OutputPage> for OutputPage {
    fn from(p: pb::OutputPage) -> Self {
        let data = if p.encoding == "base64" {
            base64::engine::general_purpose::STANDARD.encode(&p.data)
        } else {
            lossy(p.data)
        };
        Self {
            ok: true,
            output_id: p.output_id,
            stream: p.stream,
            data,
            encoding: p.encoding,
            offset: p.offset,
            next_offset: p.next_offset,
            total_bytes: p.total_bytes,
            eof: p.eof,
            written_bytes: p.written_bytes,
            note: (!p.note.is_empty()).then_some(p.note),
            running: p.job.as_ref().map(|j| j.running),
            exit_code: p.job.as_ref().and_then(|j| j.exit_code),
            signal: p.job.as_ref().and_then(|j| j.signal),
        }
    }
}

impl OutputPage {
    /// The tool result; the page's data (megabytes) is moved into it, not copied.
    fn into_result(mut self) -> rmcp::model::CallToolResult {
        let data = std::mem::take(&mut self.data);
        match serde_json::to_value(&self) {
            Ok(mut value) => {
                value["data"] = serde_json::Value::String(data);
                result::structured(value)
            }
            Err(e) => result::failure("internal_error", format!("could not encode the page: {e}")),
        }
    }
}

daemon_tool! {
    /// `ssh_read_output` on the one generic path (`call.rs`).
    SshReadOutput: Outputs::read(ReadOutputArgs => pb::ReadOutputRequest) -> pb::OutputPage,
    |args, caller| pb::ReadOutputRequest {
        output_id: args.output_id,
        stream: args.stream.unwrap_or_default(),
        offset: args.offset,
        max_bytes: args.max_bytes.unwrap_or(0),
        reader_id: caller.reader_id.to_owned(),
        wait_seconds: args.wait_seconds,
        ssh_auth_sock: super::connection::caller_auth_sock(),
    },
    |reply| OutputPage::from(reply).into_result()
}

mcp_entry! {
    ssh_read_output_router: ssh_read_output(ReadOutputArgs) => call_unary::<SshReadOutput>,
    name = "ssh_read_output",
    description = "Read the full output of a cut result or a background job, page by page, until eof.",
    title = "Read kept output",
    output_schema = schema_for_output::<OutputPage>(),
    annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = false, open_world_hint = false)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn raw_pages_come_as_base64_and_text_as_text() {
        let raw = OutputPage::from(pb::OutputPage {
            data: vec![0xff, 0],
            encoding: "base64".into(),
            ..Default::default()
        });
        assert_eq!(
            (raw.data.as_str(), raw.encoding.as_str()),
            ("/wA=", "base64")
        );
        let text = OutputPage::from(pb::OutputPage {
            data: b"ok\n".to_vec(),
            encoding: "utf-8".into(),
            ..Default::default()
        });
        assert_eq!(text.data, "ok\n");
        assert!(serde_json::to_value(&text).unwrap().get("note").is_none());
    }

    #[test]
    fn unknown_parameters_are_refused() {
        let args: Result<ReadOutputArgs, _> =
            serde_json::from_value(json!({"output_id": "x", "lenght": 3}));
        assert!(args.is_err());
    }
}
