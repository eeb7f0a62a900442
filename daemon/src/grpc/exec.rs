//! `sshmcp.v1.Exec`: Run. Validates the request, then runs the command in a task on the
//! `commands` tracker (so it survives the client and shutdown can find it), forwarding progress
//! and the outcome over the response stream. A dropped stream cancels the command.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use ssh_mcp_core::pb::{self, RunEvent, RunRequest, exec_server::Exec, run_event::Event};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::door::{Call, Ended, Entry, Method, RawCommon};
use crate::exec::{self, Counters, ExecOutcome, ExecSpec, Phase, RawExec};
use crate::jobs::{self, SavedConnection};
use crate::state::Daemon;
use crate::trust::Subject;

pub struct ExecService {
    daemon: Daemon,
}

impl ExecService {
    pub fn new(daemon: Daemon) -> Self {
        Self { daemon }
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<RunEvent, Status>> + Send + 'static>>;

pub(super) fn raw_exec(req: RunRequest) -> (RawCommon, RawExec) {
    let common = super::raw_common(req.connection, req.timeout_seconds);
    let exec = RawExec {
        command: req.command,
        cwd: req.cwd,
        env: req.env.into_iter().map(|e| (e.name, e.value)).collect(),
        shell: req.shell,
        tty: req.tty,
        max_output_bytes: req.max_output_bytes,
        result_chars: req.result_chars,
    };
    (common, exec)
}

/// What besides the command decides what runs, for a person approving it: the working
/// directory, the environment, the shell, a terminal.
fn exec_details(raw: &RawExec) -> String {
    let mut out = String::new();
    if let Some(cwd) = &raw.cwd {
        out.push_str(&format!("\n\nin directory: {cwd}"));
    }
    if !raw.env.is_empty() {
        let vars: Vec<String> = raw.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push_str(&format!("\nwith environment: {}", vars.join(" ")));
    }
    if let Some(shell) = &raw.shell {
        out.push_str(&format!("\nrun by: {shell}"));
    }
    if raw.tty {
        out.push_str("\non a terminal");
    }
    out
}

fn finished(spec: &ExecSpec, o: ExecOutcome) -> RunEvent {
    let (output_id, output_note) = match o.kept {
        Some((id, streams)) => {
            let notes: Vec<String> = streams.into_iter().filter_map(|s| s.note).collect();
            (id, notes.join("; "))
        }
        None => Default::default(),
    };
    RunEvent {
        event: Some(Event::Finished(pb::Finished {
            exit_code: o.exit_code,
            signal: o.signal,
            stdout: o.stdout.bytes,
            stderr: o.stderr.bytes,
            stdout_truncated: o.stdout.truncated,
            stderr_truncated: o.stderr.truncated,
            stdout_bytes: o.stdout.total,
            stderr_bytes: o.stderr.total,
            timed_out: o.timed_out,
            duration_ms: o.duration.as_millis() as u64,
            target: spec.conn.target.to_string(),
            command: spec.command.clone(),
            reused_connection: o.reused_connection,
            stdout_cut_at: o.stdout.cut_at.map(|c| c as u64),
            stderr_cut_at: o.stderr.cut_at.map(|c| c as u64),
            output_id,
            output_note,
            job_id: String::new(),
        })),
    }
}

fn progress(started: Instant, counters: &Counters) -> RunEvent {
    let phase = match counters.phase() {
        Phase::Connecting => "connecting",
        Phase::Running => "running",
        Phase::Stopping => "stopping",
    };
    RunEvent {
        event: Some(Event::Progress(pb::Progress {
            elapsed_ms: started.elapsed().as_millis() as u64,
            stdout_bytes: counters.stdout_bytes.load(Ordering::Relaxed),
            stderr_bytes: counters.stderr_bytes.load(Ordering::Relaxed),
            phase: phase.to_owned(),
        })),
    }
}

#[tonic::async_trait]
impl Exec for ExecService {
    type RunStream = EventStream;

    async fn run(&self, req: Request<RunRequest>) -> Result<Response<Self::RunStream>, Status> {
        let entry = self.daemon.door.enter(Method::ExecRun, &req)?;
        entry.settle_stream(self.start(&entry, req).await)
    }
}

impl super::progress_stream::Audited for ExecOutcome {
    fn ended(&self) -> Ended {
        Ended::exited(self.exit_code)
    }
}

impl ExecService {
    async fn start(
        &self,
        entry: &Entry,
        req: Request<RunRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let req = req.into_inner();
        let interval_ms = req.progress_interval_ms;
        let background = req.background;
        let (common, raw) = raw_exec(req);
        let mut details = exec_details(&raw);
        if background {
            details.push_str("\nas a background job (it keeps running after the call returns)");
        }
        let spec = ExecSpec::parse(entry.common(&common)?, raw)
            .map_err(crate::error::DaemonError::from)?;
        entry
            .admit(Call::on(Subject::Connection(&spec.conn), spec.command.clone()).details(details))
            .await?;
        if background {
            let saved = SavedConnection::of(&spec.conn);
            return Ok(Response::new(Box::pin(self.start_job(entry, spec, saved))));
        }
        let spec = Arc::new(spec);
        let counters = Arc::new(Counters::default());
        let started = Instant::now();
        let daemon = self.daemon.clone();
        let stream = super::progress_stream::spawn(
            &self.daemon,
            entry.clone(),
            format!("command on {}", spec.conn.target),
            interval_ms,
            {
                let (spec, counters) = (spec.clone(), counters.clone());
                move |cancel| async move { exec::run(&daemon, &spec, &counters, &cancel).await }
            },
            move || progress(started, &counters),
            move |outcome| finished(&spec, outcome),
        );
        Ok(Response::new(Box::pin(stream)))
    }

    /// `background: true`: the command starts as a job on its host; the stream ends as soon as
    /// it runs, with its job id.
    fn start_job(
        &self,
        entry: &Entry,
        spec: ExecSpec,
        saved: SavedConnection,
    ) -> impl Stream<Item = Result<RunEvent, Status>> + use<> {
        let daemon = self.daemon.clone();
        let client = entry.caller.client.clone();
        let spec = Arc::new(spec);
        let for_result = spec.clone();
        super::progress_stream::spawn(
            &self.daemon,
            entry.clone(),
            format!("background job on {}", spec.conn.target),
            0,
            move |cancel| async move { jobs::run::start(&daemon, &spec, saved, client, &cancel).await },
            || RunEvent { event: None },
            move |started| job_started(&for_result, started),
        )
    }
}

impl super::progress_stream::Audited for jobs::run::Started {
    fn ended(&self) -> Ended {
        Ended::ok()
    }
}

/// The result of a background start: the job's id, and the command running.
fn job_started(spec: &ExecSpec, s: jobs::run::Started) -> RunEvent {
    RunEvent {
        event: Some(Event::Finished(pb::Finished {
            duration_ms: s.duration.as_millis() as u64,
            target: spec.conn.target.to_string(),
            command: spec.command.clone(),
            reused_connection: s.reused_connection,
            job_id: s.job.id,
            ..Default::default()
        })),
    }
}
