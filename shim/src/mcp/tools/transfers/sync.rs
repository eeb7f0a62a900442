//! `ssh_sync`: an incremental rsync to or from a host (`Transfers.Sync`).

use rmcp::handler::server::common::schema_for_output;
use rmcp::schemars::{self, JsonSchema};
use rmcp::{tool, tool_router};
use serde::Deserialize;
use ssh_mcp_wire::pb::{self, SyncRequest};

use super::{Direction, Transfer, TransferResult, common};
use crate::mcp::schema;
use crate::mcp::tools::call::{daemon_tool, mcp_entry};
use crate::mcp::tools::connection::remote_args;
use crate::mcp::tools::services::Transfers;

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

fn sync_request(a: SyncArgs, progress: bool) -> SyncRequest {
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

daemon_tool! {
    /// `ssh_sync` on the one generic path (`call.rs`).
    SshSync: Transfers::sync(SyncArgs => SyncRequest) -> tonic::Streaming<pb::TransferEvent>,
    |args, caller| sync_request(args, caller.progress)
}

impl Transfer for SshSync {}

mcp_entry! {
    ssh_sync_router: ssh_sync(SyncArgs) => call_streamed::<SshSync>,
    name = "ssh_sync",
    description = "Incremental rsync to or from a host.",
    title = "rsync",
    output_schema = schema_for_output::<TransferResult>(),
    annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

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
    fn an_unknown_field_is_refused() {
        assert!(
            serde_json::from_value::<SyncArgs>(json!({
                "target": "h", "direction": "upload", "source": "a", "destination": "d", "rsh": "x"
            }))
            .is_err()
        );
    }
}
