//! `ssh_scp` and `ssh_sync`: scp and rsync between this machine and a host (drop-in for the
//! seed's tools, plus progress, cancellation, checksums and counts), one tool per file. What they
//! share is here: the direction, the common request fields, the result and how a progress event
//! reads. Relative local paths are relative to this process's directory (the MCP client's), which
//! goes with the request.

use rmcp::schemars::{self, JsonSchema};
use serde::{Deserialize, Serialize};
use ssh_mcp_wire::pb::{self, TransferCommon, transfer_event::Event};

use super::call::{Step, Streamed, Tool};
use crate::mcp::{result, schema};

pub(super) mod scp;
pub(super) mod sync;

/// How often the daemon reports progress when the client asked for it.
const PROGRESS_INTERVAL_MS: u32 = 1000;

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum Direction {
    Upload,
    Download,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Download => "download",
        }
    }
}

/// One file compared with `checksum`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FileChecksum {
    pub local_path: String,
    pub remote_path: String,
    pub local_sha256: String,
    pub remote_sha256: String,
    pub same: bool,
}

/// Optional fields are absent rather than null (see `schema.rs`).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(transform = schema::portable)]
pub struct TransferResult {
    /// scp's or rsync's exit status; absent when a signal ended it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub duration_ms: u64,
    /// exit_code is 0, no timeout, and checksums (if asked) match.
    pub ok: bool,
    pub target: String,
    pub direction: String,
    pub files_transferred: u64,
    pub bytes_transferred: u64,
    pub reused_connection: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_match: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checksums: Vec<FileChecksum>,
}

impl From<pb::TransferFinished> for TransferResult {
    fn from(f: pb::TransferFinished) -> Self {
        Self {
            ok: f.exit_code == Some(0) && !f.timed_out && f.checksum_match != Some(false),
            exit_code: f.exit_code,
            signal: f.signal,
            stdout: String::from_utf8_lossy(&f.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&f.stderr).into_owned(),
            timed_out: f.timed_out,
            duration_ms: f.duration_ms,
            target: f.target,
            direction: f.direction,
            files_transferred: f.files_transferred,
            bytes_transferred: f.bytes_transferred,
            reused_connection: f.reused_connection,
            checksum_match: f.checksum_match,
            checksum_error: f.checksum_error,
            checksums: f
                .checksums
                .into_iter()
                .map(|c| FileChecksum {
                    local_path: c.local_path,
                    remote_path: c.remote_path,
                    local_sha256: c.local_sha256,
                    remote_sha256: c.remote_sha256,
                    same: c.same,
                })
                .collect(),
        }
    }
}

fn common(
    connection: pb::Connection,
    direction: Direction,
    timeout: Option<f64>,
    checksum: Option<bool>,
    progress: bool,
) -> TransferCommon {
    TransferCommon {
        connection: Some(connection),
        direction: direction.as_str().to_owned(),
        timeout_seconds: timeout,
        checksum: checksum.unwrap_or(false),
        local_cwd: std::env::current_dir()
            .ok()
            .map(|d| d.to_string_lossy().into_owned()),
        progress_interval_ms: if progress { PROGRESS_INTERVAL_MS } else { 0 },
    }
}

fn mib(n: u64) -> String {
    format!("{:.1} MiB", n as f64 / f64::from(1 << 20))
}

/// A transfer tool (ssh_scp, ssh_sync): its method streams `TransferEvent`s, which all read the
/// same way.
pub(super) trait Transfer: Tool<Reply = tonic::Streaming<pb::TransferEvent>> {}

impl<T: Transfer> Streamed for T {
    type Event = pb::TransferEvent;

    const WHAT: &'static str = "the transfer";

    fn step(_request: &T::Request, event: pb::TransferEvent) -> Step {
        step(event)
    }
}

/// What one event of a transfer's stream means for the call.
fn step(event: pb::TransferEvent) -> Step {
    match event.event {
        Some(Event::Progress(p)) => {
            let of = p.total_bytes.map(|t| format!(" of {}", mib(t)));
            let files = if p.files > 0 {
                format!(", {} files", p.files)
            } else {
                String::new()
            };
            Step::Progress {
                progress: p.bytes as f64,
                total: p.total_bytes.map(|t| t as f64),
                message: format!(
                    "{} {}{}{files}, {:.0}s",
                    p.phase,
                    mib(p.bytes),
                    of.unwrap_or_default(),
                    p.elapsed_ms as f64 / 1000.0
                ),
            }
        }
        Some(Event::Finished(f)) => Step::Done(result::success(&TransferResult::from(f))),
        None => Step::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checksum_mismatch_is_not_ok() {
        let f = pb::TransferFinished {
            exit_code: Some(0),
            checksum_match: Some(false),
            ..Default::default()
        };
        let v = serde_json::to_value(TransferResult::from(f)).unwrap();
        assert_eq!(v["ok"], false);
        assert!(
            v.get("checksums").is_none() && v.get("signal").is_none(),
            "{v}"
        );
    }
}
