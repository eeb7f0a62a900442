//! `ssh_glob`: regular files matching a glob, found by a walk over SFTP (`Search.Glob`).

use rmcp::handler::server::common::schema_for_output;
use rmcp::schemars::{self, JsonSchema};
use rmcp::{tool, tool_router};
use serde::{Deserialize, Serialize};
use ssh_mcp_wire::pb::{self, GlobRequest};

use crate::mcp::tools::call::{daemon_tool, mcp_entry};
use crate::mcp::tools::connection::remote_args;
use crate::mcp::tools::services::Search;
use crate::mcp::{result, schema};

remote_args! {
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::portable)]
pub struct GlobArgs {
    /// Glob relative to path, e.g. **/*.ts or src/*.{ts,tsx}.
    pub pattern: String,
    /// Directory (default .).
    pub path: Option<String>,
    #[schemars(range(min = 1))]
    pub head_limit: Option<u32>,
    /// Seconds; default none.
    pub timeout: Option<f64>,
}
}

fn glob_request(a: GlobArgs) -> GlobRequest {
    GlobRequest {
        connection: Some(a.connection()),
        pattern: a.pattern,
        path: a.path,
        head_limit: a.head_limit,
        timeout_seconds: a.timeout,
    }
}

#[derive(Debug, Serialize, JsonSchema)]
struct GlobResult {
    ok: bool,
    target: String,
    path: String,
    pattern: String,
    /// Regular files matching the pattern, relative to path, sorted.
    matches: Vec<String>,
    /// head_limit cut the list.
    truncated: bool,
    /// The walk stopped at its entry limit (200,000): files past it were not looked at.
    walk_limited: bool,
    /// Directories that could not be listed (sent only when there are some).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unreadable_dirs: Vec<String>,
}

impl From<pb::GlobReply> for GlobResult {
    fn from(r: pb::GlobReply) -> Self {
        Self {
            ok: true,
            target: r.target,
            path: r.path,
            pattern: r.pattern,
            matches: r.matches,
            truncated: r.truncated,
            walk_limited: r.walk_limited,
            unreadable_dirs: r.unreadable_dirs,
        }
    }
}

daemon_tool! {
    /// `ssh_glob` on the one generic path (`call.rs`).
    SshGlob: Search::glob(GlobArgs => GlobRequest) -> pb::GlobReply,
    |args, _caller| glob_request(args),
    |reply| result::success(&GlobResult::from(reply))
}

mcp_entry! {
    ssh_glob_router: ssh_glob(GlobArgs) => call_unary::<SshGlob>,
    name = "ssh_glob",
    description = "Find remote regular files by glob: * ? [..] {a,b}, ** across directories; hidden names only by a pattern starting with '.'; .git/.hg/.svn skipped. Sorted paths relative to path.",
    title = "Find remote files",
    output_schema = schema_for_output::<GlobResult>(),
    annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_glob_without_pattern_is_refused() {
        assert!(serde_json::from_value::<GlobArgs>(json!({"target": "h"})).is_err());
    }

    #[test]
    fn glob_parameters_reach_the_request() {
        let a: GlobArgs = serde_json::from_value(json!({
            "target": "h", "pattern": "**/*.rs", "path": "src", "head_limit": 2, "timeout": 1.0
        }))
        .unwrap();
        let r = glob_request(a);
        assert_eq!(r.pattern, "**/*.rs");
        assert_eq!(r.path.as_deref(), Some("src"));
        assert_eq!((r.head_limit, r.timeout_seconds), (Some(2), Some(1.0)));
    }
}
