//! `sshmcp.v1.Sessions`: Open, Read, Write, Stop, List, Run, Attach. Turns wire types into the session
//! specs of `sessions::spec`, calls the registry and the session, and turns snapshots back.

use ssh_mcp_core::pb::{self, sessions_server::Sessions};
use tonic::{Request, Response, Status};

use crate::door::{Call, Ended, Entry, Method};
use crate::error::DaemonError;
use crate::sessions::attach::{self, FromPerson, ToPerson};
use crate::sessions::limits::{self, DEFAULT_STOP_WAIT_SECONDS, DEFAULT_WAIT_SECONDS};
use crate::sessions::run::{self, RawRun, RunSpec};
use crate::sessions::snapshot::{self, Snapshot, Wait};
use crate::sessions::spec::{OpenSpec, RawOpen, RawRead, ReadSpec};
use crate::state::Daemon;
use crate::trust::Subject;

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
            settle_ms: o.settle_ms,
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

/// The person's messages after the first one, as `attach` reads them.
struct Inbound(tonic::Streaming<pb::AttachInput>);

impl attach::AsyncNext for Inbound {
    async fn next(&mut self) -> Option<FromPerson> {
        loop {
            let m = self.0.message().await.ok().flatten()?;
            if m.rows > 0 || m.cols > 0 {
                return Some(FromPerson::Resize {
                    rows: m.rows,
                    cols: m.cols,
                });
            }
            if !m.input.is_empty() {
                return Some(FromPerson::Input(m.input));
            }
        }
    }
}

type AttachStream =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::AttachOutput, Status>> + Send>>;

#[tonic::async_trait]
impl Sessions for SessionsService {
    type AttachStream = AttachStream;

    async fn attach(
        &self,
        req: Request<tonic::Streaming<pb::AttachInput>>,
    ) -> Result<Response<Self::AttachStream>, Status> {
        let entry = self
            .daemon
            .door
            .enter_stream(Method::SessionsAttach, &req)?;
        let mut inbound = req.into_inner();
        let first = inbound.message().await?.ok_or_else(|| {
            Status::invalid_argument("attach: the first message names the session")
        })?;
        let session = self.daemon.sessions.get(&first.session_id)?;
        let how = if first.read_only {
            "watch"
        } else {
            "attach to"
        };
        entry
            .admit(Call::on(
                subject(&session),
                format!("{how} session {}", session.id),
            ))
            .await?;
        if !first.read_only && (first.rows > 0 || first.cols > 0) && session.is_running() {
            attach::resize(&session, first.rows, first.cols).await?;
        }
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let daemon = self.daemon.clone();
        self.daemon.shutdown.commands.spawn(async move {
            let send = |m: ToPerson| {
                let tx = tx.clone();
                async move {
                    let message = match m {
                        ToPerson::Output(output) => pb::AttachOutput {
                            output,
                            exit_reason: None,
                        },
                        ToPerson::Ended(reason) => pb::AttachOutput {
                            output: Vec::new(),
                            exit_reason: Some(reason),
                        },
                    };
                    tx.send(Ok(message)).await.is_ok()
                }
            };
            attach::run(
                session,
                first.read_only,
                Inbound(inbound),
                send,
                daemon.shutdown.requested(),
            )
            .await;
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn open(
        &self,
        req: Request<pb::OpenSessionRequest>,
    ) -> Result<Response<pb::SessionReply>, Status> {
        let entry = self.daemon.door.enter(Method::SessionsOpen, &req)?;
        entry.settle(self.open_call(&entry, req).await)
    }

    async fn read(
        &self,
        req: Request<pb::ReadSessionRequest>,
    ) -> Result<Response<pb::SessionReply>, Status> {
        let entry = self.daemon.door.enter(Method::SessionsRead, &req)?;
        entry.settle(self.read_call(&entry, req).await)
    }

    async fn write(
        &self,
        req: Request<pb::WriteSessionRequest>,
    ) -> Result<Response<pb::SessionReply>, Status> {
        let entry = self.daemon.door.enter(Method::SessionsWrite, &req)?;
        entry.settle(self.write_call(&entry, req).await)
    }

    async fn stop(
        &self,
        req: Request<pb::StopSessionRequest>,
    ) -> Result<Response<pb::SessionReply>, Status> {
        let entry = self.daemon.door.enter(Method::SessionsStop, &req)?;
        entry.settle(self.stop_call(&entry, req).await)
    }

    async fn run(
        &self,
        req: Request<pb::RunInSessionRequest>,
    ) -> Result<Response<pb::RunInSessionReply>, Status> {
        let entry = self.daemon.door.enter(Method::SessionsRun, &req)?;
        entry.settle(self.run_call(&entry, req).await)
    }

    async fn list(
        &self,
        req: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsReply>, Status> {
        let entry = self.daemon.door.enter(Method::SessionsList, &req)?;
        entry.settle(self.list_call(req).await)
    }
}

impl SessionsService {
    async fn open_call(
        &self,
        entry: &Entry,
        req: Request<pb::OpenSessionRequest>,
    ) -> Result<Response<pb::SessionReply>, Status> {
        let req = req.into_inner();
        let read = read_spec(req.read, DEFAULT_WAIT_SECONDS)?;
        let common = entry.common(&super::raw_common(req.connection, None))?;
        let raw = RawOpen {
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
        let spec = OpenSpec::parse(common, raw).map_err(DaemonError::from)?;
        let verb = if spec.ensure { "ensure" } else { "start" };
        let name = spec.name.as_deref().unwrap_or("(unnamed)");
        entry
            .admit(Call::on(
                Subject::Connection(&spec.conn),
                format!("{verb} session {name}"),
            ))
            .await?;
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

    async fn read_call(
        &self,
        entry: &Entry,
        req: Request<pb::ReadSessionRequest>,
    ) -> Result<Response<pb::SessionReply>, Status> {
        let req = req.into_inner();
        let read = read_spec(req.read, DEFAULT_WAIT_SECONDS)?;
        let session = self.daemon.sessions.get(&req.session_id)?;
        entry
            .admit(Call::on(
                subject(&session),
                format!("read session {}", session.id),
            ))
            .await?;
        Ok(Response::new(reply(
            snapshot::take(&session, &read, Wait::ForUnread).await,
        )))
    }

    async fn write_call(
        &self,
        entry: &Entry,
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
        entry
            .admit(Call::on(
                subject(&session), // Never the input itself: a session's input may be a password.
                format!("write {} bytes to session {}", req.input.len(), session.id),
            ))
            .await?;
        if let Some(size) = resize {
            // An absent dimension keeps its current value.
            let now = session.size();
            let size = limits::TermSize {
                rows: if req.rows > 0 { size.rows } else { now.rows },
                cols: if req.cols > 0 { size.cols } else { now.cols },
            };
            session.resize(size).await?;
        }
        let before = session.output().end_offset();
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

    async fn stop_call(
        &self,
        entry: &Entry,
        req: Request<pb::StopSessionRequest>,
    ) -> Result<Response<pb::SessionReply>, Status> {
        let req = req.into_inner();
        let wait =
            limits::wait_seconds("wait_seconds", req.wait_seconds, DEFAULT_STOP_WAIT_SECONDS)
                .map_err(DaemonError::from)?;
        let mut read = read_spec(req.read, 0.25)?;
        read.wait = read.wait.min(std::time::Duration::from_millis(250));
        let session = self.daemon.sessions.get(&req.session_id)?;
        entry
            .admit(Call::on(
                subject(&session),
                format!("stop session {}", session.id),
            ))
            .await?;
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

    async fn run_call(
        &self,
        entry: &Entry,
        req: Request<pb::RunInSessionRequest>,
    ) -> Result<Response<pb::RunInSessionReply>, Status> {
        let req = req.into_inner();
        let summary = format!("in session {}: {}", req.session_id, req.command);
        let spec = RunSpec::parse(RawRun {
            command: req.command,
            continue_previous: req.continue_previous,
            timeout_seconds: req.timeout_seconds,
            max_output_chars: req.max_output_chars,
            strip_ansi: req.strip_ansi,
        })
        .map_err(DaemonError::from)?;
        let session = self.daemon.sessions.get(&req.session_id)?;
        entry.admit(Call::on(subject(&session), summary)).await?;
        let outcome = run::run(&session, &spec).await?;
        entry.finish(&Ended::exited(outcome.exit_code));
        let status = read_spec(None, 0.0)?;
        let snap = snapshot::take(&session, &status, Wait::No).await;
        Ok(Response::new(pb::RunInSessionReply {
            output: outcome.output,
            exit_code: outcome.exit_code,
            still_running: outcome.still_running,
            timed_out: outcome.timed_out,
            started: outcome.started,
            session_ended: outcome.session_ended,
            duration_ms: outcome.duration.as_millis() as u64,
            output_bytes: outcome.output_bytes,
            truncated: outcome.truncated,
            run_id: outcome.run_id,
            snapshot: Some(wire(snap)),
        }))
    }

    async fn list_call(
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

/// Who a call on `session` acts on: the host its connection reaches, by every name the policy
/// knows it by (a session restored from a previous daemon has only its target as written).
fn subject(session: &crate::sessions::session::Session) -> Subject<'_> {
    match &session.conn {
        Some(conn) => Subject::Connection(conn),
        None => Subject::Written(&session.target),
    }
}
