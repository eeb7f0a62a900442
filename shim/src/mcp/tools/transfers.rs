//! `ssh_scp` and `ssh_sync`: scp and rsync between this machine and a host (drop-in for the
//! seed's tools, plus progress, cancellation, checksums and counts). Arguments become a
//! `ScpRequest` or `SyncRequest`; the daemon's event stream becomes progress notifications and,
//! at the end, the result. Relative local paths are relative to this process's directory (the
//! MCP client's), which goes with the request.

use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ProgressNotificationParam};
use rmcp::schemars::{self, JsonSchema};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, tool, tool_router};
use serde::{Deserialize, Serialize};
use ssh_mcp_wire::pb::transfers_client::TransfersClient;
use ssh_mcp_wire::pb::{self, ScpRequest, SyncRequest, TransferCommon, transfer_event::Event};

use super::connection::remote_args;
use crate::mcp::{SshMcp, result, schema};
use tonic::transport::Channel;

/// How often the daemon reports progress when the client asked for it.
const PROGRESS_INTERVAL_MS: u32 = 1000;
/// The largest result message accepted from the daemon (two 1 MiB outputs and checksums).
const MAX_RESULT_BYTES: usize = 16 * 1024 * 1024;

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

remote_args! {
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::portable)]
pub struct ScpArgs {
    pub direction: Direction,
    /// Local (upload) or remote paths.
    #[schemars(length(min = 1))]
    pub sources: Vec<String>,
    /// Remote (upload) or local path.
    pub destination: String,
    /// Needed for directories.
    pub recursive: Option<bool>,
    /// Keep times and modes.
    pub preserve_times: Option<bool>,
    /// Seconds.
    pub timeout: Option<f64>,
    /// sha256 both ends.
    pub checksum: Option<bool>,
}
}

remote_args! {
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::portable)]
pub struct SyncArgs {
    pub direction: Direction,
    /// Local (upload) or remote; trailing / = contents.
    pub source: String,
    /// Remote (upload) or local path.
    pub destination: String,
    /// Delete extra destination files.
    pub delete: Option<bool>,
    /// Default true.
    pub compress: Option<bool>,
    pub dry_run: Option<bool>,
    /// Patterns to exclude.
    pub exclude: Option<Vec<String>>,
    /// Allowlisted rsync flags.
    pub extra_rsync_args: Option<Vec<String>>,
    /// Seconds.
    pub timeout: Option<f64>,
    /// sha256 both ends.
    pub checksum: Option<bool>,
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

pub(super) fn scp_request(a: ScpArgs, progress: bool) -> ScpRequest {
    ScpRequest {
        common: Some(common(
            a.connection(),
            a.direction,
            a.timeout,
            a.checksum,
            progress,
        )),
        sources: a.sources,
        destination: a.destination,
        recursive: a.recursive.unwrap_or(false),
        preserve_times: a.preserve_times.unwrap_or(false),
    }
}

pub(super) fn sync_request(a: SyncArgs, progress: bool) -> SyncRequest {
    SyncRequest {
        common: Some(common(
            a.connection(),
            a.direction,
            a.timeout,
            a.checksum,
            progress,
        )),
        source: a.source,
        destination: a.destination,
        delete: a.delete.unwrap_or(false),
        compress: a.compress,
        dry_run: a.dry_run.unwrap_or(false),
        exclude: a.exclude.unwrap_or_default(),
        extra_rsync_args: a.extra_rsync_args.unwrap_or_default(),
    }
}

fn mib(n: u64) -> String {
    format!("{:.1} MiB", n as f64 / f64::from(1 << 20))
}

/// Which call to make.
#[derive(Clone)]
enum Call {
    Scp(ScpRequest),
    Sync(SyncRequest),
}

impl SshMcp {
    /// Sends the request (reconnecting once if the daemon went away between calls), then turns
    /// the event stream into progress notifications and the result.
    async fn transfer(
        &self,
        call: Call,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let progress_token = ctx.meta.get_progress_token();
        let client =
            |channel| TransfersClient::new(channel).max_decoding_message_size(MAX_RESULT_BYTES);
        let open = |mut c: TransfersClient<Channel>| {
            let call = call.clone();
            async move {
                match call {
                    Call::Scp(r) => c.scp(r).await,
                    Call::Sync(r) => c.sync(r).await,
                }
            }
        };
        let mut stream = match self.unary(&ctx, client, open, result::from_status).await {
            Ok(stream) => stream,
            Err(failure) => return Ok(failure),
        };
        loop {
            let event = match self.next_event(&ctx, &mut stream, "the transfer").await {
                Ok(event) => event,
                Err(failure) => return Ok(failure),
            };
            match event.event {
                Some(Event::Progress(p)) => {
                    if let Some(token) = progress_token.clone() {
                        let of = p.total_bytes.map(|t| format!(" of {}", mib(t)));
                        let files = if p.files > 0 {
                            format!(", {} files", p.files)
                        } else {
                            String::new()
                        };
                        let mut note = ProgressNotificationParam::new(token, p.bytes as f64)
                            .with_message(format!(
                                "{} {}{}{files}, {:.0}s",
                                p.phase,
                                mib(p.bytes),
                                of.unwrap_or_default(),
                                p.elapsed_ms as f64 / 1000.0
                            ));
                        if let Some(t) = p.total_bytes {
                            note = note.with_total(t as f64);
                        }
                        let _ = ctx.peer.notify_progress(note).await;
                    }
                }
                Some(Event::Finished(f)) => {
                    return Ok(result::success(&TransferResult::from(f)));
                }
                None => {}
            }
        }
    }
}

#[tool_router(router = transfer_tools, vis = "pub(crate)")]
impl SshMcp {
    #[tool(
        name = "ssh_scp",
        description = "Copy files to or from a host with scp.",
        title = "scp",
        output_schema = schema_for_output::<TransferResult>(),
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = true)
    )]
    async fn ssh_scp(
        &self,
        Parameters(args): Parameters<ScpArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let progress = ctx.meta.get_progress_token().is_some();
        self.transfer(Call::Scp(scp_request(args, progress)), ctx)
            .await
    }

    #[tool(
        name = "ssh_sync",
        description = "Incremental rsync to or from a host.",
        title = "rsync",
        output_schema = schema_for_output::<TransferResult>(),
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = true)
    )]
    async fn ssh_sync(
        &self,
        Parameters(args): Parameters<SyncArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let progress = ctx.meta.get_progress_token().is_some();
        self.transfer(Call::Sync(sync_request(args, progress)), ctx)
            .await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn scp_defaults_and_every_parameter() {
        let a: ScpArgs = serde_json::from_value(json!({
            "target": "h", "direction": "upload", "sources": ["a", "b"], "destination": "d"
        }))
        .unwrap();
        let r = scp_request(a, false);
        let c = r.common.unwrap();
        assert_eq!(
            (c.direction.as_str(), c.checksum, c.progress_interval_ms),
            ("upload", false, 0)
        );
        assert!(c.local_cwd.is_some());
        assert!(!r.recursive && !r.preserve_times);
        let a: ScpArgs = serde_json::from_value(json!({
            "target": "h", "direction": "download", "sources": ["a"], "destination": "d",
            "recursive": true, "preserve_times": true, "timeout": 2.5, "checksum": true,
            "port": 2222, "extra_ssh_args": ["-C"]
        }))
        .unwrap();
        let r = scp_request(a, true);
        assert!(r.recursive && r.preserve_times);
        let c = r.common.unwrap();
        assert_eq!(c.timeout_seconds, Some(2.5));
        assert!(c.checksum);
        assert_eq!(c.progress_interval_ms, PROGRESS_INTERVAL_MS);
        assert_eq!(c.connection.unwrap().port, Some(2222));
    }

    #[test]
    fn sync_keeps_compress_absent_for_the_daemons_default() {
        let a: SyncArgs = serde_json::from_value(json!({
            "target": "h", "direction": "download", "source": "s", "destination": "d",
            "exclude": ["*.o"], "extra_rsync_args": ["-v"], "delete": true, "dry_run": true
        }))
        .unwrap();
        let r = sync_request(a, false);
        assert_eq!(r.compress, None);
        assert!(r.delete && r.dry_run);
        assert_eq!(
            (r.exclude, r.extra_rsync_args),
            (vec!["*.o".to_owned()], vec!["-v".to_owned()])
        );
    }

    #[test]
    fn unknown_fields_and_directions_are_refused() {
        assert!(
            serde_json::from_value::<ScpArgs>(json!({
                "target": "h", "direction": "sideways", "sources": ["a"], "destination": "d"
            }))
            .is_err()
        );
        assert!(
            serde_json::from_value::<SyncArgs>(json!({
                "target": "h", "direction": "upload", "source": "a", "destination": "d", "rsh": "x"
            }))
            .is_err()
        );
    }

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
