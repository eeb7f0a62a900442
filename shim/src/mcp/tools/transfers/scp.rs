//! `ssh_scp`: files copied to or from a host with scp (`Transfers.Scp`), into place only once
//! complete.

use rmcp::handler::server::common::schema_for_output;
use rmcp::schemars::{self, JsonSchema};
use rmcp::{tool, tool_router};
use serde::Deserialize;
use ssh_mcp_wire::pb::{self, ScpRequest};

use super::{Direction, Transfer, TransferResult, common};
use crate::mcp::schema;
use crate::mcp::tools::call::{daemon_tool, mcp_entry};
use crate::mcp::tools::connection::remote_args;
use crate::mcp::tools::services::Transfers;

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

fn scp_request(a: ScpArgs, progress: bool) -> ScpRequest {
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

daemon_tool! {
    /// `ssh_scp` on the one generic path (`call.rs`).
    SshScp: Transfers::scp(ScpArgs => ScpRequest) -> tonic::Streaming<pb::TransferEvent>,
    |args, caller| scp_request(args, caller.progress)
}

impl Transfer for SshScp {}

mcp_entry! {
    ssh_scp_router: ssh_scp(ScpArgs) => call_streamed::<SshScp>,
    name = "ssh_scp",
    description = "Copy files to or from a host with scp.",
    title = "scp",
    output_schema = schema_for_output::<TransferResult>(),
    annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::mcp::tools::transfers::PROGRESS_INTERVAL_MS;

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
    fn an_unknown_direction_is_refused() {
        assert!(
            serde_json::from_value::<ScpArgs>(json!({
                "target": "h", "direction": "sideways", "sources": ["a"], "destination": "d"
            }))
            .is_err()
        );
    }
}
