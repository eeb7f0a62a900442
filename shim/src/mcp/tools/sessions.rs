//! The session tools (drop-in for the seed's six): ssh_start_session and ssh_ensure_session
//! (`Sessions.Open`), ssh_read_session, ssh_write_session, ssh_stop_session and
//! ssh_list_sessions. Sessions live in the daemon; every read carries this shim's reader id, so
//! each MCP client follows a session with its own cursor. The seed's defaults are filled here.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Read;

use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::schemars::{self, JsonSchema};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, tool, tool_router};
use serde::Deserialize;
use ssh_mcp_wire::pb::sessions_client::SessionsClient;
use ssh_mcp_wire::pb::{self, ReadOptions};
use tonic::transport::Channel;

use super::connection::{doc, remote_args};
use super::session_result::{NoSnapshot, SessionList, SessionResult};
use crate::mcp::{SshMcp, result, schema};

/// The seed's defaults (its spec, §6.9-6.12).
const DEFAULT_WAIT_SECONDS: f64 = 1.0;
const DEFAULT_STOP_WAIT_SECONDS: f64 = 2.0;
const DEFAULT_MAX_OUTPUT_CHARS: u64 = 65_536;
const DEFAULT_OBSERVER_MODE: &str = "tmux";

/// The largest answer accepted from the daemon: a read is bounded by its output buffer (4 MiB by
/// default), a list by the number of sessions; this leaves ample room for both.
const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

/// Wording the session tools share (as `connection::doc` does for the connection parameters).
mod sdoc {
    pub const WAIT_SECONDS: &str = "Seconds to wait for output (default 1).";
    pub const MAX_OUTPUT_CHARS: &str = "Default 65536.";
    pub const STRIP_ANSI: &str = "Remove ANSI escapes from output.";
    pub const SCREEN: &str = "Also return the rendered screen.";
    pub const SETTLE_MS: &str = "Return once output was quiet this long (default 75; 0: at once).";
}

/// A random id for this shim process, made once at start-up: the daemon keeps one read cursor
/// per reader id and session, so two MCP clients (two shims) reading one session each see all of
/// its output. 16 hex digits from the kernel's random source.
pub fn new_reader_id() -> String {
    let mut bytes = [0u8; 8];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if random.is_err() {
        // Unique enough among the shims of one user: pid and start time.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        bytes = (nanos ^ (u64::from(std::process::id()) << 40)).to_be_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

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

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::portable)]
pub struct ReadArgs {
    pub session_id: String,
    #[schemars(description = sdoc::WAIT_SECONDS, range(min = 0))]
    pub wait_seconds: Option<f64>,
    #[schemars(description = sdoc::MAX_OUTPUT_CHARS, range(min = 1))]
    pub max_output_chars: Option<u64>,
    /// Re-read from this byte offset (see output_offset).
    pub offset: Option<u64>,
    #[schemars(description = sdoc::STRIP_ANSI)]
    pub strip_ansi: Option<bool>,
    #[schemars(description = sdoc::SCREEN)]
    pub screen: Option<bool>,
    #[schemars(description = sdoc::SETTLE_MS, range(max = 10000))]
    pub settle_ms: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::portable)]
pub struct WriteArgs {
    pub session_id: String,
    /// Sent as is: \n is Enter, \u0003 Ctrl-C, \u0004 Ctrl-D.
    pub input: String,
    #[schemars(description = sdoc::WAIT_SECONDS, range(min = 0))]
    pub wait_seconds: Option<f64>,
    #[schemars(description = sdoc::MAX_OUTPUT_CHARS, range(min = 1))]
    pub max_output_chars: Option<u64>,
    #[schemars(description = sdoc::STRIP_ANSI)]
    pub strip_ansi: Option<bool>,
    #[schemars(description = sdoc::SCREEN)]
    pub screen: Option<bool>,
    #[schemars(description = sdoc::SETTLE_MS, range(max = 10000))]
    pub settle_ms: Option<u32>,
    /// Resize the terminal first.
    pub rows: Option<u32>,
    pub cols: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::portable)]
pub struct StopArgs {
    pub session_id: String,
    /// SIGKILL instead of SIGTERM.
    pub force: Option<bool>,
    /// Seconds to wait for the exit (default 2).
    #[schemars(range(min = 0))]
    pub wait_seconds: Option<f64>,
    #[schemars(description = sdoc::MAX_OUTPUT_CHARS, range(min = 1))]
    pub max_output_chars: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::portable)]
pub struct ListArgs {
    /// Default true.
    pub include_exited: Option<bool>,
    #[schemars(description = doc::TARGET)]
    pub target: Option<String>,
    pub session_name: Option<String>,
}

/// How one call reads, with the seed's defaults where the agent gave nothing.
fn read_options(
    reader_id: &str,
    wait_seconds: Option<f64>,
    max_output_chars: Option<u64>,
) -> ReadOptions {
    ReadOptions {
        wait_seconds: Some(wait_seconds.unwrap_or(DEFAULT_WAIT_SECONDS)),
        max_output_chars: Some(max_output_chars.unwrap_or(DEFAULT_MAX_OUTPUT_CHARS)),
        offset: None,
        strip_ansi: false,
        screen: false,
        reader_id: reader_id.to_owned(),
        settle_ms: None,
    }
}

pub(super) fn open_request(
    args: OpenArgs,
    ensure: bool,
    reader_id: &str,
) -> pb::OpenSessionRequest {
    pb::OpenSessionRequest {
        connection: Some(args.connection()),
        session_name: args.session_name,
        cwd: args.cwd,
        env: args
            .env
            .unwrap_or_default()
            .into_iter()
            .map(|(name, value)| pb::EnvVar { name, value })
            .collect(),
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

pub(super) fn read_request(args: ReadArgs, reader_id: &str) -> pb::ReadSessionRequest {
    pb::ReadSessionRequest {
        session_id: args.session_id,
        read: Some(ReadOptions {
            offset: args.offset,
            strip_ansi: args.strip_ansi.unwrap_or(false),
            screen: args.screen.unwrap_or(false),
            settle_ms: args.settle_ms,
            ..read_options(reader_id, args.wait_seconds, args.max_output_chars)
        }),
    }
}

pub(super) fn write_request(args: WriteArgs, reader_id: &str) -> pb::WriteSessionRequest {
    pb::WriteSessionRequest {
        session_id: args.session_id,
        input: args.input.into_bytes(),
        read: Some(ReadOptions {
            strip_ansi: args.strip_ansi.unwrap_or(false),
            screen: args.screen.unwrap_or(false),
            settle_ms: args.settle_ms,
            ..read_options(reader_id, args.wait_seconds, args.max_output_chars)
        }),
        rows: args.rows.unwrap_or(0),
        cols: args.cols.unwrap_or(0),
    }
}

pub(super) fn stop_request(args: StopArgs, reader_id: &str) -> pb::StopSessionRequest {
    pb::StopSessionRequest {
        session_id: args.session_id,
        force: args.force.unwrap_or(false),
        wait_seconds: Some(args.wait_seconds.unwrap_or(DEFAULT_STOP_WAIT_SECONDS)),
        // The final read takes what the session left: how long to wait for it is the daemon's
        // call (the seed waits at most 0.25 s once the process is gone).
        read: Some(ReadOptions {
            wait_seconds: None,
            ..read_options(reader_id, None, args.max_output_chars)
        }),
    }
}

pub(super) fn list_request(args: ListArgs) -> pb::ListSessionsRequest {
    pb::ListSessionsRequest {
        include_exited: args.include_exited.unwrap_or(true),
        target: args.target,
        session_name: args.session_name,
    }
}

/// The tool result for a session reply.
fn session_result(
    reply: pb::SessionReply,
    shape: fn(pb::SessionReply) -> Result<SessionResult, NoSnapshot>,
) -> CallToolResult {
    match shape(reply) {
        Ok(r) => result::success(&r),
        Err(NoSnapshot) => result::failure(
            "internal_error",
            "the daemon answered without the session's state".into(),
        ),
    }
}

impl SshMcp {
    /// One unary call to the Sessions service (`SshMcp::unary`), with the session tools' error
    /// types.
    pub(super) async fn sessions_call<T, F, Fut>(
        &self,
        ctx: &RequestContext<RoleServer>,
        call: F,
    ) -> Result<T, CallToolResult>
    where
        F: Fn(SessionsClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.unary(
            ctx,
            |channel| SessionsClient::new(channel).max_decoding_message_size(MAX_REPLY_BYTES),
            call,
            result::from_session_status,
        )
        .await
    }

    async fn open(
        &self,
        args: OpenArgs,
        ensure: bool,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let request = open_request(args, ensure, &self.reader_id);
        let reply = self
            .sessions_call(&ctx, |mut c| {
                let r = request.clone();
                async move { c.open(r).await }
            })
            .await;
        match reply {
            Ok(reply) => session_result(reply, SessionResult::opened),
            Err(failure) => failure,
        }
    }
}

#[tool_router(router = session_tools, vis = "pub(crate)")]
impl SshMcp {
    #[tool(
        name = "ssh_start_session",
        description = "Start a persistent shell on a host, kept for all clients. Prefer ssh_ensure_session.",
        title = "Start a session",
        output_schema = schema_for_output::<SessionResult>(),
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = true)
    )]
    async fn ssh_start_session(
        &self,
        Parameters(args): Parameters<OpenArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        Ok(self.open(args, false, ctx).await)
    }

    #[tool(
        name = "ssh_ensure_session",
        description = "Reuse the running session of target (+session_name) or start one. On reuse cwd, env, shell, auto_close are ignored.",
        title = "Ensure a session",
        output_schema = schema_for_output::<SessionResult>(),
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = true)
    )]
    async fn ssh_ensure_session(
        &self,
        Parameters(args): Parameters<OpenArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        Ok(self.open(args, true, ctx).await)
    }

    #[tool(
        name = "ssh_read_session",
        description = "Output since this client's last read (each client has its own cursor). truncated: more is waiting. dropped_bytes: output lost before it was read. running: the shell is alive.",
        title = "Read session output",
        output_schema = schema_for_output::<SessionResult>(),
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = false, open_world_hint = true)
    )]
    async fn ssh_read_session(
        &self,
        Parameters(args): Parameters<ReadArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let request = read_request(args, &self.reader_id);
        let reply = self
            .sessions_call(&ctx, |mut c| {
                let r = request.clone();
                async move { c.read(r).await }
            })
            .await;
        Ok(match reply {
            Ok(reply) => session_result(reply, SessionResult::of),
            Err(failure) => failure,
        })
    }

    #[tool(
        name = "ssh_write_session",
        description = "Type into a session (end commands with \\n), then return the output that follows.",
        title = "Write to a session",
        output_schema = schema_for_output::<SessionResult>(),
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = true)
    )]
    async fn ssh_write_session(
        &self,
        Parameters(args): Parameters<WriteArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let request = write_request(args, &self.reader_id);
        let reply = self
            .sessions_call(&ctx, |mut c| {
                let r = request.clone();
                async move { c.write(r).await }
            })
            .await;
        Ok(match reply {
            Ok(reply) => session_result(reply, SessionResult::of),
            Err(failure) => failure,
        })
    }

    #[tool(
        name = "ssh_stop_session",
        description = "End a session: hang up its shell, then SIGTERM (SIGKILL with force) to what is left. Returns the last output and exit status; it stays listed, its transcript on disk.",
        title = "Stop a session",
        output_schema = schema_for_output::<SessionResult>(),
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = true)
    )]
    async fn ssh_stop_session(
        &self,
        Parameters(args): Parameters<StopArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let request = stop_request(args, &self.reader_id);
        let reply = self
            .sessions_call(&ctx, |mut c| {
                let r = request.clone();
                async move { c.stop(r).await }
            })
            .await;
        Ok(match reply {
            Ok(reply) => session_result(reply, SessionResult::of),
            Err(failure) => failure,
        })
    }

    #[tool(
        name = "ssh_list_sessions",
        description = "List the sessions of all clients: session_id, session_name, target, state, observer.",
        title = "List sessions",
        output_schema = schema_for_output::<SessionList>(),
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn ssh_list_sessions(
        &self,
        Parameters(args): Parameters<ListArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let request = list_request(args);
        let reply = self
            .sessions_call(&ctx, |mut c| {
                let r = request.clone();
                async move { c.list(r).await }
            })
            .await;
        Ok(match reply {
            Ok(reply) => result::success(&SessionList::from(reply)),
            Err(failure) => failure,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, serde_json::Error> {
        serde_json::from_value(v)
    }

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
        assert_eq!(read.max_output_chars, Some(65_536));
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
        let r = read_request(
            parse(
                json!({"session_id": "s", "wait_seconds": null, "max_output_chars": null,
                         "offset": null, "strip_ansi": null, "screen": null}),
            )
            .unwrap(),
            "r",
        );
        assert_eq!(r.read.unwrap().offset, None);
        let r = stop_request(
            parse(
                json!({"session_id": "s", "force": null, "wait_seconds": null,
                         "max_output_chars": null}),
            )
            .unwrap(),
            "r",
        );
        assert_eq!((r.force, r.wait_seconds), (false, Some(2.0)));
        let r = list_request(
            parse(json!({"include_exited": null, "target": null, "session_name": null})).unwrap(),
        );
        assert!(r.include_exited);
    }

    #[test]
    fn an_unknown_parameter_or_mode_is_refused() {
        let e = parse::<OpenArgs>(json!({"target": "h", "sesion_name": "x"})).unwrap_err();
        assert!(e.to_string().contains("unknown field `sesion_name`"), "{e}");
        assert!(parse::<OpenArgs>(json!({"target": "h", "observer_mode": "screen"})).is_err());
        assert!(parse::<ReadArgs>(json!({"session_id": "s", "wait": 1})).is_err());
        assert!(
            parse::<WriteArgs>(json!({"session_id": "s"})).is_err(),
            "input is required"
        );
        assert!(parse::<StopArgs>(json!({"session_id": "s", "signal": 9})).is_err());
        assert!(parse::<ListArgs>(json!({"all": true})).is_err());
    }

    #[test]
    fn read_write_and_stop_carry_the_reader_and_the_extras() {
        let r = read_request(
            parse(
                json!({"session_id": "s", "wait_seconds": 2.5, "max_output_chars": 7,
                         "offset": 0, "strip_ansi": true, "screen": true}),
            )
            .unwrap(),
            "me",
        );
        assert_eq!(r.session_id, "s");
        let read = r.read.unwrap();
        assert_eq!(
            (read.wait_seconds, read.max_output_chars),
            (Some(2.5), Some(7))
        );
        assert_eq!(read.offset, Some(0), "offset 0 re-reads from the start");
        assert!(read.strip_ansi && read.screen);
        assert_eq!(read.reader_id, "me");

        let w = write_request(
            parse(json!({"session_id": "s", "input": ""})).unwrap(),
            "me",
        );
        assert!(w.input.is_empty(), "empty input is allowed");
        assert_eq!(
            (w.rows, w.cols),
            (0, 0),
            "0 leaves the terminal size as it is"
        );
        let read = w.read.unwrap();
        assert_eq!(
            (read.wait_seconds, read.reader_id.as_str()),
            (Some(1.0), "me")
        );
        let w = write_request(
            parse(json!({"session_id": "s", "input": "é\u{3}", "rows": 24, "cols": 80})).unwrap(),
            "me",
        );
        assert_eq!(w.input, "é\u{3}".as_bytes());
        assert_eq!((w.rows, w.cols), (24, 80));

        let s = stop_request(
            parse(json!({"session_id": "s", "force": true})).unwrap(),
            "me",
        );
        assert!(s.force);
        let read = s.read.unwrap();
        assert_eq!(
            read.wait_seconds, None,
            "the final read's wait is the daemon's"
        );
        assert_eq!(
            (read.max_output_chars, read.reader_id.as_str()),
            (Some(65_536), "me")
        );
    }

    #[test]
    fn list_includes_exited_sessions_unless_told_not_to() {
        assert!(list_request(parse(json!({})).unwrap()).include_exited);
        let r = list_request(
            parse(json!({"include_exited": false, "target": "h", "session_name": "n"})).unwrap(),
        );
        assert!(!r.include_exited);
        assert_eq!(
            (r.target.as_deref(), r.session_name.as_deref()),
            (Some("h"), Some("n"))
        );
    }

    #[test]
    fn the_reader_id_is_random_hex_and_stays_with_the_server() {
        let a = new_reader_id();
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, new_reader_id(), "each shim process gets its own");
        let link = std::sync::Arc::new(crate::daemon_link::DaemonLink::from_env());
        let server = SshMcp::new(link);
        let id = server.reader_id.clone();
        assert_eq!(id.len(), 16);
        assert_eq!(
            server.clone().reader_id,
            id,
            "one id for the life of the server"
        );
        let r = read_request(
            parse(json!({"session_id": "s"})).unwrap(),
            &server.reader_id,
        );
        assert_eq!(r.read.unwrap().reader_id, *id);
    }
}
