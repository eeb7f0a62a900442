//! `sshmcp.v1.Sessions`: Open, Read, Write, Stop, List. Turns wire types into the session
//! specs of `sessions::spec`, calls the registry and the session, and turns snapshots back.

use std::path::PathBuf;

use ssh_mcp_core::pb::{self, sessions_server::Sessions};
use ssh_mcp_core::ssh::connection::RawConnection;
use tonic::{Request, Response, Status};

use crate::error::DaemonError;
use crate::sessions::limits::{self, DEFAULT_STOP_WAIT_SECONDS, DEFAULT_WAIT_SECONDS};
use crate::sessions::snapshot::{self, Snapshot, Wait};
use crate::sessions::spec::{OpenSpec, RawOpen, RawRead, ReadSpec};
use crate::state::Daemon;

pub struct SessionsService {
    daemon: Daemon,
}

impl SessionsService {
    pub fn new(daemon: Daemon) -> Self {
        Self { daemon }
    }
}

fn read_spec(options: Option<pb::ReadOptions>, default_wait: f64) -> Result<ReadSpec, Status> {
    let o = options.unwrap_or_default();
    ReadSpec::parse(
        RawRead {
            wait_seconds: o.wait_seconds,
            max_output_chars: o.max_output_chars,
            offset: o.offset,
            strip_ansi: o.strip_ansi,
            screen: o.screen,
            reader_id: o.reader_id,
        },
        default_wait,
    )
    .map_err(|e| DaemonError::from(e).into())
}

fn wire(s: Snapshot) -> pb::SessionSnapshot {
    let observer = &s.observer;
    pb::SessionSnapshot {
        session_id: s.id,
        session_name: s.name,
        target: s.target,
        running: s.running,
        exit_code: s.exit.as_ref().and_then(|e| e.code),
        signal: s.exit.as_ref().and_then(|e| e.signal),
        exit_reason: s.exit.as_ref().map(|e| e.reason.clone()),
        pending_output_chars: s.pending_bytes,
        output: s.output,
        truncated: s.truncated,
        uptime_seconds: (s.uptime.as_secs_f64() * 10.0).round() / 10.0,
        idle_seconds: s.idle.map(|d| (d.as_secs_f64() * 10.0).round() / 10.0),
        observer: Some(pb::Observer {
            requested_mode: observer.requested.as_str().to_owned(),
            mode: observer.mode.as_str().to_owned(),
            command: observer.command(),
            transcript_path: observer.transcript_path.display().to_string(),
            tmux_started: observer.tmux_started,
            tmux_session_name: observer.tmux_name.clone(),
            tmux_attach_command: observer.tmux_attach_command(),
            warning: observer.warning.clone(),
        }),
        auto_close: s.auto_close,
        output_offset: s.output_offset,
        next_offset: s.next_offset,
        dropped_bytes: s.dropped_bytes,
        screen: s.screen.map(|r| pb::Screen {
            rows: r.rows,
            cursor_row: u32::from(r.cursor.0),
            cursor_col: u32::from(r.cursor.1),
        }),
        rows: u32::from(s.rows),
        cols: u32::from(s.cols),
    }
}

fn reply(snapshot: Snapshot) -> pb::SessionReply {
    pb::SessionReply {
        snapshot: Some(wire(snapshot)),
        ..Default::default()
    }
}

#[tonic::async_trait]
impl Sessions for SessionsService {
    async fn open(
        &self,
        req: Request<pb::OpenSessionRequest>,
    ) -> Result<Response<pb::SessionReply>, Status> {
        if self.daemon.shutdown.is_requested() {
            return Err(DaemonError::ShuttingDown.into());
        }
        let req = req.into_inner();
        let read = read_spec(req.read, DEFAULT_WAIT_SECONDS)?;
        let c = req.connection.unwrap_or_default();
        let raw = RawOpen {
            connection: RawConnection {
                target: c.target,
                port: c.port,
                identity_file: c.identity_file,
                known_hosts_file: c.known_hosts_file,
                strict_host_key_checking: c.strict_host_key_checking,
                extra_ssh_args: c.extra_ssh_args,
            },
            ssh_auth_sock: c.ssh_auth_sock,
            session_name: req.session_name,
            cwd: req.cwd,
            env: req.env.into_iter().map(|e| (e.name, e.value)).collect(),
            shell: req.shell,
            observer_mode: req.observer_mode,
            auto_close: req.auto_close,
            ensure: req.ensure,
            rows: (req.rows > 0).then_some(req.rows),
            cols: (req.cols > 0).then_some(req.cols),
        };
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let spec = OpenSpec::parse(raw, home.as_deref()).map_err(DaemonError::from)?;
        let opened = self.daemon.sessions.open(&self.daemon, &spec).await?;
        let snap = snapshot::take(&opened.session, &read, Wait::ForUnread).await;
        Ok(Response::new(pb::SessionReply {
            snapshot: Some(wire(snap)),
            created: opened.created,
            reused: !opened.created,
            matched_by: opened.matched_by.map(str::to_owned),
            ..Default::default()
        }))
    }

    async fn read(
        &self,
        req: Request<pb::ReadSessionRequest>,
    ) -> Result<Response<pb::SessionReply>, Status> {
        let req = req.into_inner();
        let read = read_spec(req.read, DEFAULT_WAIT_SECONDS)?;
        let session = self.daemon.sessions.get(&req.session_id)?;
        Ok(Response::new(reply(
            snapshot::take(&session, &read, Wait::ForUnread).await,
        )))
    }

    async fn write(
        &self,
        req: Request<pb::WriteSessionRequest>,
    ) -> Result<Response<pb::SessionReply>, Status> {
        let req = req.into_inner();
        let read = read_spec(req.read, DEFAULT_WAIT_SECONDS)?;
        limits::input_len("input", req.input.len()).map_err(DaemonError::from)?;
        let resize = (req.rows > 0 || req.cols > 0).then(|| {
            limits::TermSize::parse(
                (req.rows > 0).then_some(req.rows),
                (req.cols > 0).then_some(req.cols),
            )
        });
        let resize = resize.transpose().map_err(DaemonError::from)?;
        let session = self.daemon.sessions.get(&req.session_id)?;
        if let Some(size) = resize {
            // An absent dimension keeps its current value.
            let now = session.size();
            let size = limits::TermSize {
                rows: if req.rows > 0 { size.rows } else { now.rows },
                cols: if req.cols > 0 { size.cols } else { now.cols },
            };
            session.resize(size).await?;
        }
        let before = session.output.end_offset();
        if !req.input.is_empty() {
            session.write(&req.input).await?;
        }
        let snap = snapshot::take(&session, &read, Wait::ForOutputAfter(before)).await;
        Ok(Response::new(pb::SessionReply {
            snapshot: Some(wire(snap)),
            bytes_written: Some(req.input.len() as u64),
            ..Default::default()
        }))
    }

    async fn stop(
        &self,
        req: Request<pb::StopSessionRequest>,
    ) -> Result<Response<pb::SessionReply>, Status> {
        let req = req.into_inner();
        let wait =
            limits::wait_seconds("wait_seconds", req.wait_seconds, DEFAULT_STOP_WAIT_SECONDS)
                .map_err(DaemonError::from)?;
        let mut read = read_spec(req.read, 0.25)?;
        read.wait = read.wait.min(std::time::Duration::from_millis(250));
        let session = self.daemon.sessions.get(&req.session_id)?;
        let was_running = session.is_running();
        if was_running {
            session.stop(req.force, wait).await;
        }
        let snap = snapshot::take(&session, &read, Wait::ForUnread).await;
        let termination_signal = was_running.then(|| {
            match session.exit().and_then(|e| e.signal) {
                Some(9) => "SIGKILL",
                Some(15) => "SIGTERM",
                _ => "SIGHUP",
            }
            .to_owned()
        });
        Ok(Response::new(pb::SessionReply {
            snapshot: Some(wire(snap)),
            was_running: Some(was_running),
            termination_signal,
            ..Default::default()
        }))
    }

    async fn list(
        &self,
        req: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsReply>, Status> {
        let req = req.into_inner();
        let read = read_spec(None, 0.0)?;
        let mut sessions = Vec::new();
        for s in self.daemon.sessions.list() {
            if !req.include_exited && !s.is_running() {
                continue;
            }
            if req.target.as_deref().is_some_and(|t| t.trim() != s.target) {
                continue;
            }
            if req
                .session_name
                .as_deref()
                .is_some_and(|n| Some(n.trim()) != s.name.as_deref())
            {
                continue;
            }
            sessions.push(wire(snapshot::take(&s, &read, Wait::No).await));
        }
        Ok(Response::new(pb::ListSessionsReply { sessions }))
    }
}
