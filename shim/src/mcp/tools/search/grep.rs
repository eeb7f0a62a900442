//! `ssh_grep`: `grep -r` on the host (`Search.Grep`), its matches in the seed's three shapes.

use rmcp::handler::server::common::schema_for_output;
use rmcp::schemars::{self, JsonSchema};
use rmcp::{tool, tool_router};
use serde::{Deserialize, Serialize};
use ssh_mcp_wire::pb::{self, GrepRequest};

use crate::mcp::tools::call::{daemon_tool, mcp_entry};
use crate::mcp::tools::connection::remote_args;
use crate::mcp::tools::services::Search;
use crate::mcp::{result, schema};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(inline)]
pub enum OutputMode {
    // Listed first: the default.
    FilesWithMatches,
    Content,
    Count,
}

impl OutputMode {
    fn as_str(self) -> &'static str {
        match self {
            Self::Content => "content",
            Self::FilesWithMatches => "files_with_matches",
            Self::Count => "count",
        }
    }
}

// Descriptions are what the model reads in every conversation: terse (see exec.rs).
remote_args! {
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::portable)]
pub struct GrepArgs {
    /// Regex (grep -P, else -E).
    pub pattern: String,
    /// File or dir (default .).
    pub path: Option<String>,
    /// *.py, or a path glob like src/**/*.rs.
    pub glob: Option<String>,
    pub case_insensitive: Option<bool>,
    pub output_mode: Option<OutputMode>,
    /// content mode only.
    pub context: Option<u32>,
    pub context_before: Option<u32>,
    pub context_after: Option<u32>,
    #[schemars(range(min = 1))]
    pub head_limit: Option<u32>,
    /// Seconds; default none.
    pub timeout: Option<f64>,
}
}

fn grep_request(a: GrepArgs) -> GrepRequest {
    GrepRequest {
        connection: Some(a.connection()),
        pattern: a.pattern,
        path: a.path,
        glob: a.glob,
        case_insensitive: a.case_insensitive.unwrap_or(false),
        output_mode: a
            .output_mode
            .unwrap_or(OutputMode::FilesWithMatches)
            .as_str()
            .into(),
        context: a.context,
        context_before: a.context_before,
        context_after: a.context_after,
        head_limit: a.head_limit,
        timeout_seconds: a.timeout,
    }
}

/// One match in the seed's shapes: a path (files_with_matches), `{path, count}` (count), or
/// `{path, line_number, line}` with `is_context: true` on context lines (content).
#[derive(Debug, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
#[schemars(transform = schema::portable)]
enum GrepMatch {
    Path(String),
    Count {
        path: String,
        count: u64,
    },
    Line {
        path: String,
        line_number: u64,
        line: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        is_context: Option<bool>,
    },
}

fn grep_matches(mode: &str, matches: Vec<pb::GrepMatch>) -> Vec<GrepMatch> {
    matches
        .into_iter()
        .map(|m| match mode {
            "count" => GrepMatch::Count {
                path: m.path,
                count: m.count,
            },
            "content" => GrepMatch::Line {
                path: m.path,
                line_number: m.line_number,
                line: m.line,
                is_context: m.is_context.then_some(true),
            },
            _ => GrepMatch::Path(m.path),
        })
        .collect()
}

// Output schemas are not part of what the model reads (the tools/list budget counts the input
// side), so they say what each field means.
#[derive(Debug, Serialize, JsonSchema)]
struct GrepResult {
    ok: bool,
    target: String,
    pattern: String,
    path: String,
    output_mode: String,
    matches: Vec<GrepMatch>,
    /// Not every match is here: head_limit or the output cap cut the list.
    truncated: bool,
    /// The output reached the 1 MiB cap: narrow the search to see the rest.
    output_capped: bool,
    /// pcre (grep -P) or extended (grep -E).
    regex_flavor: String,
    /// Files grep could not read; the matches in the other files are kept.
    errors: Vec<GrepFileError>,
}

#[derive(Debug, Serialize, JsonSchema)]
struct GrepFileError {
    path: String,
    message: String,
}

impl From<pb::GrepReply> for GrepResult {
    fn from(r: pb::GrepReply) -> Self {
        Self {
            ok: true,
            matches: grep_matches(&r.output_mode, r.matches),
            target: r.target,
            pattern: r.pattern,
            path: r.path,
            output_mode: r.output_mode,
            truncated: r.truncated,
            output_capped: r.output_capped,
            regex_flavor: r.regex_flavor,
            errors: r
                .errors
                .into_iter()
                .map(|e| GrepFileError {
                    path: e.path,
                    message: e.message,
                })
                .collect(),
        }
    }
}

daemon_tool! {
    /// `ssh_grep` on the one generic path (`call.rs`).
    SshGrep: Search::grep(GrepArgs => GrepRequest) -> pb::GrepReply,
    |args, _caller| grep_request(args),
    |reply| result::success(&GrepResult::from(reply))
}

mcp_entry! {
    ssh_grep_router: ssh_grep(GrepArgs) => call_unary::<SshGrep>,
    name = "ssh_grep",
    description = "grep -r on the host, skipping .git/.hg/.svn. Unreadable files go to errors; other matches are kept.",
    title = "Search remote files",
    output_schema = schema_for_output::<GrepResult>(),
    annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn grep_defaults_and_every_parameter_reach_the_request() {
        let a: GrepArgs = serde_json::from_value(json!({"target": "h", "pattern": "-x"})).unwrap();
        let r = grep_request(a);
        assert_eq!(r.pattern, "-x");
        assert_eq!(r.output_mode, "files_with_matches");
        assert_eq!((r.path, r.glob, r.head_limit), (None, None, None));
        let a: GrepArgs = serde_json::from_value(json!({
            "target": "h", "pattern": "p", "path": "/srv", "glob": "*.py",
            "case_insensitive": true, "output_mode": "content", "context": 1,
            "context_before": 2, "context_after": 3, "head_limit": 4, "timeout": 5.5, "port": 22
        }))
        .unwrap();
        let r = grep_request(a);
        assert_eq!(r.path.as_deref(), Some("/srv"));
        assert_eq!(r.glob.as_deref(), Some("*.py"));
        assert!(r.case_insensitive);
        assert_eq!(r.output_mode, "content");
        assert_eq!(
            (r.context, r.context_before, r.context_after),
            (Some(1), Some(2), Some(3))
        );
        assert_eq!((r.head_limit, r.timeout_seconds), (Some(4), Some(5.5)));
        assert_eq!(r.connection.unwrap().port, Some(22));
    }

    #[test]
    fn unknown_parameters_and_modes_are_refused() {
        assert!(
            serde_json::from_value::<GrepArgs>(
                json!({"target": "h", "pattern": "p", "globs": "x"})
            )
            .is_err()
        );
        assert!(
            serde_json::from_value::<GrepArgs>(
                json!({"target": "h", "pattern": "p", "output_mode": "lines"})
            )
            .is_err()
        );
    }

    #[test]
    fn grep_results_take_the_seeds_shapes() {
        let m = |path: &str, count, line_number, line: &str, is_context| pb::GrepMatch {
            path: path.into(),
            count,
            line_number,
            line: line.into(),
            is_context,
        };
        let shaped = |mode, ms| serde_json::to_value(grep_matches(mode, ms)).unwrap();
        assert_eq!(
            shaped("files_with_matches", vec![m("a", 0, 0, "", false)]),
            json!(["a"])
        );
        assert_eq!(
            shaped("count", vec![m("a", 2, 0, "", false)]),
            json!([{"path": "a", "count": 2}])
        );
        assert_eq!(
            shaped(
                "content",
                vec![m("a", 0, 1, "x", true), m("a", 0, 2, "y", false)]
            ),
            json!([
                {"path": "a", "line_number": 1, "line": "x", "is_context": true},
                {"path": "a", "line_number": 2, "line": "y"},
            ])
        );
    }
}
