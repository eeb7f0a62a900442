//! What ssh_start_session and ssh_ensure_session share: their arguments and the `Sessions.Open`
//! request they make, which differ only in `ensure` (reuse a running match, or always start).

use std::collections::BTreeMap;

use rmcp::model::CallToolResult;
use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;
use ssh_mcp_wire::pb;

use super::{read_options, sdoc, session_result};
use crate::mcp::schema;
use crate::mcp::tools::call::{Caller, Tool, Unary, sends_to};
use crate::mcp::tools::connection::remote_args;
use crate::mcp::tools::exec::env_vars;
use crate::mcp::tools::services::Sessions;
use crate::mcp::tools::session_result::SessionResult;

const DEFAULT_OBSERVER_MODE: &str = "tmux";

/// `observer_mode`: how a person can follow the session.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum ObserverMode {
    Tmux,
    Transcript,
}

impl ObserverMode {
    fn as_str(self) -> &'static str {
        match self {
            Self::Tmux => "tmux",
            Self::Transcript => "transcript",
        }
    }
}

// Descriptions are what the model reads in every conversation (the budget test in tests/mcp
// holds each tool to it): they say what an agent needs and no more.
remote_args! {
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::portable)]
pub struct OpenArgs {
    /// Stable name to find it again.
    pub session_name: Option<String>,
    pub cwd: Option<String>,
    pub env: Option<BTreeMap<String, String>>,
    pub shell: Option<String>,
    /// Default tmux.
    pub observer_mode: Option<ObserverMode>,
    /// Forget it once exited.
    pub auto_close: Option<bool>,
    #[schemars(description = sdoc::WAIT_SECONDS, range(min = 0))]
    pub wait_seconds: Option<f64>,
    #[schemars(description = sdoc::MAX_OUTPUT_CHARS, range(min = 1))]
    pub max_output_chars: Option<u64>,
    pub rows: Option<u32>,
    pub cols: Option<u32>,
}
}

fn open_request(args: OpenArgs, ensure: bool, reader_id: &str) -> pb::OpenSessionRequest {
    pb::OpenSessionRequest {
        connection: Some(args.connection()),
        session_name: args.session_name,
        cwd: args.cwd,
        env: env_vars(args.env),
        shell: args.shell,
        observer_mode: Some(
            args.observer_mode
                .map_or(DEFAULT_OBSERVER_MODE, ObserverMode::as_str)
                .to_owned(),
        ),
        auto_close: args.auto_close.unwrap_or(false),
        ensure,
        read: Some(read_options(
            reader_id,
            args.wait_seconds,
            args.max_output_chars,
        )),
        rows: args.rows.unwrap_or(0),
        cols: args.cols.unwrap_or(0),
    }
}

/// `Sessions.Open` on the one generic path (`call.rs`): `Open<false>` starts a session
/// (ssh_start_session), `Open<true>` reuses a running match first (ssh_ensure_session).
pub(crate) struct Open<const ENSURE: bool>;

impl<const ENSURE: bool> Tool for Open<ENSURE> {
    type Args = OpenArgs;
    type Service = Sessions;
    type Request = pb::OpenSessionRequest;
    type Reply = pb::SessionReply;

    fn request(args: OpenArgs, caller: Caller<'_>) -> pb::OpenSessionRequest {
        open_request(args, ENSURE, caller.reader_id)
    }

    sends_to!(open);
}

impl<const ENSURE: bool> Unary for Open<ENSURE> {
    fn result(reply: pb::SessionReply) -> CallToolResult {
        session_result(reply, SessionResult::opened)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::mcp::tools::sessions::parse;

    #[test]
    fn open_fills_the_seeds_defaults() {
        let a: OpenArgs = parse(json!({"target": "h"})).unwrap();
        let r = open_request(a, true, "r1");
        assert!(r.ensure);
        assert_eq!(r.connection.map(|c| c.target).as_deref(), Some("h"));
        assert_eq!(r.observer_mode.as_deref(), Some("tmux"));
        assert_eq!((r.session_name, r.cwd, r.shell), (None, None, None));
        assert!(r.env.is_empty() && !r.auto_close);
        assert_eq!(
            (r.rows, r.cols),
            (0, 0),
            "0 asks for the daemon's terminal size"
        );
        let read = r.read.unwrap();
        assert_eq!(read.wait_seconds, Some(1.0));
        // Left to the daemon, whose default also keeps the result within what clients show.
        assert_eq!(read.max_output_chars, None);
        assert_eq!(read.reader_id, "r1");
        assert!(read.offset.is_none() && !read.strip_ansi && !read.screen);
    }

    #[test]
    fn every_open_parameter_reaches_the_request() {
        let a: OpenArgs = parse(json!({
            "target": "u@h", "session_name": "deploy", "cwd": "/srv", "env": {"A": "1"},
            "shell": "bash", "observer_mode": "transcript", "auto_close": true,
            "wait_seconds": 0, "max_output_chars": 10, "rows": 24, "cols": 80, "port": 2222,
            "strict_host_key_checking": "accept-new", "extra_ssh_args": ["-J", "j"]
        }))
        .unwrap();
        let r = open_request(a, false, "r");
        assert!(!r.ensure);
        assert_eq!(r.session_name.as_deref(), Some("deploy"));
        assert_eq!(r.cwd.as_deref(), Some("/srv"));
        assert_eq!((&*r.env[0].name, &*r.env[0].value), ("A", "1"));
        assert_eq!(r.shell.as_deref(), Some("bash"));
        assert_eq!(r.observer_mode.as_deref(), Some("transcript"));
        assert!(r.auto_close);
        assert_eq!((r.rows, r.cols), (24, 80));
        let read = r.read.unwrap();
        assert_eq!(
            (read.wait_seconds, read.max_output_chars),
            (Some(0.0), Some(10))
        );
        let c = r.connection.unwrap();
        assert_eq!(c.port, Some(2222));
        assert_eq!(c.strict_host_key_checking.as_deref(), Some("accept-new"));
        assert_eq!(c.extra_ssh_args, ["-J", "j"]);
    }

    #[test]
    fn a_null_for_an_optional_parameter_means_absent() {
        let a: OpenArgs = parse(json!({
            "target": "h", "session_name": null, "cwd": null, "env": null, "shell": null,
            "observer_mode": null, "auto_close": null, "wait_seconds": null,
            "max_output_chars": null, "rows": null, "cols": null, "port": null,
            "identity_file": null, "known_hosts_file": null, "strict_host_key_checking": null,
            "extra_ssh_args": null
        }))
        .unwrap();
        let r = open_request(a, false, "r");
        assert_eq!(r.read.unwrap().wait_seconds, Some(1.0));
    }

    #[test]
    fn an_unknown_parameter_or_mode_is_refused() {
        let e = parse::<OpenArgs>(json!({"target": "h", "sesion_name": "x"})).unwrap_err();
        assert!(e.to_string().contains("unknown field `sesion_name`"), "{e}");
        assert!(parse::<OpenArgs>(json!({"target": "h", "observer_mode": "screen"})).is_err());
    }
}
