//! What the session tools return: the seed's session snapshot (§7.3 of its spec) with the
//! daemon's extras (offsets, dropped bytes, terminal size and screen), plus the fields of each
//! call (created/reused for an open, bytes_written for a write, was_running for a stop). Output
//! bytes become text (invalid UTF-8 replaced); optional values are absent rather than null.

use rmcp::schemars::{self, JsonSchema};
use serde::Serialize;
use ssh_mcp_wire::pb;

use crate::mcp::schema;

/// The passive observer of a session: a transcript file, and a tmux session that follows it.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct Observer {
    pub requested_mode: String,
    /// tmux or transcript (the fallback when tmux could not start).
    pub mode: String,
    /// A local command that follows the session's output.
    pub command: String,
    pub transcript_path: String,
    pub tmux_started: bool,
    pub tmux_session_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmux_attach_command: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl From<pb::Observer> for Observer {
    fn from(o: pb::Observer) -> Self {
        Self {
            requested_mode: o.requested_mode,
            mode: o.mode,
            command: o.command,
            transcript_path: o.transcript_path,
            tmux_started: o.tmux_started,
            tmux_session_name: o.tmux_session_name,
            tmux_attach_command: o.tmux_attach_command,
            warning: o.warning,
        }
    }
}

/// The terminal as a person would see it now.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct Screen {
    pub rows: Vec<String>,
    pub cursor_row: u32,
    pub cursor_col: u32,
}

impl From<pb::Screen> for Screen {
    fn from(s: pb::Screen) -> Self {
        Self {
            rows: s.rows,
            cursor_row: s.cursor_row,
            cursor_col: s.cursor_col,
        }
    }
}

/// One session's state and the output of this read.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(inline, transform = schema::portable)]
pub struct Snapshot {
    pub session_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_name: Option<String>,
    pub target: String,
    pub running: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// clean-exit, exit-N, killed, terminated, signal-N, ssh-connection-failed, connection-lost...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_reason: Option<String>,
    /// The output since this client's last read, as UTF-8 (invalid sequences replaced).
    pub output: String,
    /// More output is waiting: read again.
    pub truncated: bool,
    pub pending_output_chars: u64,
    pub uptime_seconds: f64,
    /// Seconds since the last output; absent before any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observer: Option<Observer>,
    /// The observer's tmux session name, copied here as the seed does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmux_session_name: Option<String>,
    /// Present (true) only when the session was started with auto_close.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_close: Option<bool>,
    /// Absolute byte offset of the first byte of output (for ssh_read_session's offset).
    pub output_offset: u64,
    /// Where this client's next read starts.
    pub next_offset: u64,
    /// Output this client missed: it left the daemon's buffer before being read.
    pub dropped_bytes: u64,
    pub rows: u32,
    pub cols: u32,
    /// The rendered terminal, when asked for with screen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub screen: Option<Screen>,
}

/// Seconds to one decimal, as the seed reports them.
fn tenths(seconds: f64) -> f64 {
    (seconds * 10.0).round() / 10.0
}

impl From<pb::SessionSnapshot> for Snapshot {
    fn from(s: pb::SessionSnapshot) -> Self {
        let observer = s.observer.map(Observer::from);
        let tmux_session_name = observer
            .as_ref()
            .map(|o| o.tmux_session_name.clone())
            .filter(|n| !n.is_empty());
        Self {
            session_id: s.session_id,
            session_name: s.session_name,
            target: s.target,
            running: s.running,
            exit_code: s.exit_code,
            signal: s.signal,
            exit_reason: s.exit_reason,
            output: super::text::lossy(s.output),
            truncated: s.truncated,
            pending_output_chars: s.pending_output_chars,
            uptime_seconds: tenths(s.uptime_seconds),
            idle_seconds: s.idle_seconds.map(tenths),
            observer,
            tmux_session_name,
            auto_close: s.auto_close.then_some(true),
            output_offset: s.output_offset,
            next_offset: s.next_offset,
            dropped_bytes: s.dropped_bytes,
            rows: s.rows,
            cols: s.cols,
            screen: s.screen.map(Screen::from),
        }
    }
}

/// The result of start, ensure, read, write and stop: the snapshot and what the call did.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(transform = schema::portable)]
pub struct SessionResult {
    #[serde(flatten)]
    pub snapshot: Snapshot,
    /// Open: a new session was started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
    /// Open: a running session was reused (its cwd, env and shell were not changed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reused: Option<bool>,
    /// Ensure: how the reused session was found (session_name or target).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_by: Option<String>,
    /// Write: bytes sent to the terminal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_written: Option<u64>,
    /// Stop: the session was running when asked to stop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub was_running: Option<bool>,
    /// Stop: the signal that ended the session (SIGHUP, SIGTERM or SIGKILL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub termination_signal: Option<String>,
}

/// The daemon's answer had no snapshot, which it always sends.
#[derive(Debug)]
pub struct NoSnapshot;

impl SessionResult {
    /// The result of Open (start or ensure): created and reused are always given.
    pub fn opened(reply: pb::SessionReply) -> Result<Self, NoSnapshot> {
        let (created, reused) = (reply.created, reply.reused);
        let mut result = Self::of(reply)?;
        result.created = Some(created);
        result.reused = Some(reused);
        Ok(result)
    }

    /// The result of Read, Write or Stop: the fields that call's reply carries.
    pub fn of(reply: pb::SessionReply) -> Result<Self, NoSnapshot> {
        let snapshot = reply.snapshot.ok_or(NoSnapshot)?;
        Ok(Self {
            snapshot: Snapshot::from(snapshot),
            created: None,
            reused: None,
            matched_by: reply.matched_by,
            bytes_written: reply.bytes_written,
            was_running: reply.was_running,
            termination_signal: reply.termination_signal,
        })
    }
}

/// ssh_list_sessions: the sessions, without output.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(transform = schema::portable)]
pub struct SessionList {
    pub count: usize,
    pub sessions: Vec<Snapshot>,
}

impl From<pb::ListSessionsReply> for SessionList {
    fn from(reply: pb::ListSessionsReply) -> Self {
        let sessions: Vec<Snapshot> = reply.sessions.into_iter().map(Snapshot::from).collect();
        Self {
            count: sessions.len(),
            sessions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> pb::SessionSnapshot {
        pb::SessionSnapshot {
            session_id: "s1".into(),
            target: "h".into(),
            running: true,
            output: b"ok \xff\n".to_vec(),
            uptime_seconds: 1.26,
            observer: Some(pb::Observer {
                requested_mode: "tmux".into(),
                mode: "transcript".into(),
                tmux_session_name: "ssh-mcp-h-s1".into(),
                ..Default::default()
            }),
            rows: 50,
            cols: 200,
            ..Default::default()
        }
    }

    #[test]
    fn absent_values_are_left_out_not_null() {
        let reply = pb::SessionReply {
            snapshot: Some(snapshot()),
            ..Default::default()
        };
        let v = serde_json::to_value(SessionResult::of(reply).unwrap()).unwrap();
        for absent in [
            "session_name",
            "exit_code",
            "signal",
            "exit_reason",
            "idle_seconds",
            "auto_close",
            "screen",
            "created",
            "reused",
            "matched_by",
            "bytes_written",
            "was_running",
            "termination_signal",
        ] {
            assert!(v.get(absent).is_none(), "{absent} in {v}");
        }
        assert_eq!(v["output"], "ok \u{fffd}\n");
        assert_eq!(v["uptime_seconds"], 1.3);
        assert_eq!(v["tmux_session_name"], "ssh-mcp-h-s1");
        assert_eq!(v["observer"]["mode"], "transcript");
        assert!(v["observer"].get("warning").is_none(), "{v}");
        assert_eq!(
            (v["rows"].as_u64(), v["cols"].as_u64()),
            (Some(50), Some(200))
        );
    }

    #[test]
    fn an_open_says_whether_it_created_or_reused() {
        let reply = pb::SessionReply {
            snapshot: Some(pb::SessionSnapshot {
                auto_close: true,
                ..snapshot()
            }),
            reused: true,
            matched_by: Some("session_name".into()),
            ..Default::default()
        };
        let v = serde_json::to_value(SessionResult::opened(reply).unwrap()).unwrap();
        assert_eq!(v["created"], false);
        assert_eq!(v["reused"], true);
        assert_eq!(v["matched_by"], "session_name");
        assert_eq!(v["auto_close"], true);
    }

    #[test]
    fn a_reply_without_a_snapshot_is_an_error() {
        assert!(SessionResult::of(pb::SessionReply::default()).is_err());
    }

    #[test]
    fn a_list_counts_its_sessions() {
        let list = SessionList::from(pb::ListSessionsReply {
            sessions: vec![snapshot(), snapshot()],
        });
        let v = serde_json::to_value(list).unwrap();
        assert_eq!(v["count"], 2);
        assert_eq!(v["sessions"][1]["session_id"], "s1");
    }
}
