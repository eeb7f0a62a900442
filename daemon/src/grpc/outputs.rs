//! `sshmcp.v1.Outputs` (Read: one page of a kept output, or of a background job's output on its
//! host) and `sshmcp.v1.Jobs` (Stop, List).

use std::time::Duration;

use ssh_mcp_core::pb::{self, jobs_server::Jobs, outputs_server::Outputs};
use ssh_mcp_core::ssh::InvalidInput;
use ssh_mcp_core::ssh::options::connection::Connection;
use ssh_mcp_core::ssh::remote::jobs::{JOB_ID_PREFIX, JobId};
use tonic::{Request, Response, Status};

use crate::door::{Call, Entry, Method, RawCommon};
use crate::error::DaemonError;
use crate::jobs::run::{self as job_run, JobPageRequest};
use crate::jobs::{Ended, JobRecord};
use crate::outputs::page::{DEFAULT_PAGE_BYTES, MAX_PAGE_BYTES, Page, PageRequest};
use crate::outputs::{Stream, valid_id};
use crate::state::Daemon;
use crate::trust::Subject;

pub struct OutputsService {
    daemon: Daemon,
}

impl OutputsService {
    pub fn new(daemon: Daemon) -> Self {
        Self { daemon }
    }
}

/// The page the agent asked for, checked (a job id or a kept output's).
pub(super) fn page_request(req: pb::ReadOutputRequest) -> Result<PageRequest, DaemonError> {
    let output_id = req.output_id.trim().to_owned();
    if !valid_id(&output_id) && JobId::parse(&output_id).is_none() {
        return Err(DaemonError::Invalid(InvalidInput(format!(
            "'output_id' {:?} is not an output id (they look like out-0123456789abcdef or \
             job-0123456789abcdef and come in ssh_exec's result)",
            req.output_id
        ))));
    }
    let max_bytes = match req.max_bytes {
        0 => DEFAULT_PAGE_BYTES,
        n if n <= MAX_PAGE_BYTES => n,
        n => {
            return Err(DaemonError::Invalid(InvalidInput(format!(
                "'max_bytes' must be between 1 and {MAX_PAGE_BYTES} (got {n})"
            ))));
        }
    };
    Ok(PageRequest {
        output_id,
        stream: Stream::parse(&req.stream)?,
        offset: req.offset,
        max_bytes,
        max_chars: PageRequest::chars_for(max_bytes),
        reader: req.reader_id,
    })
}

/// `wait_seconds` of a job read: 0 to 60 seconds.
fn wait(seconds: Option<f64>) -> Result<Duration, DaemonError> {
    match seconds {
        None => Ok(Duration::ZERO),
        Some(s) if s.is_finite() && (0.0..=job_run::MAX_WAIT.as_secs_f64()).contains(&s) => {
            Ok(Duration::from_secs_f64(s))
        }
        Some(s) => Err(DaemonError::Invalid(InvalidInput(format!(
            "'wait_seconds' must be between 0 and {} (got {s})",
            job_run::MAX_WAIT.as_secs()
        )))),
    }
}

/// A job as the wire carries it.
pub(super) fn job_wire(job: &JobRecord, note: Option<String>) -> pb::Job {
    let (exit_code, signal) = match job.ended {
        Some(Ended::Exited(code)) => (Some(code), None),
        Some(Ended::Stopped(sig)) => (None, Some(sig)),
        _ => (None, None),
    };
    let note = note.unwrap_or_else(|| match job.ended {
        Some(Ended::Lost) => job_run::describe_end(job.ended),
        _ if job.removed => {
            "its output was read to the end; its files on the host are removed".into()
        }
        _ => String::new(),
    });
    pb::Job {
        job_id: job.id.clone(),
        target: job.connection.target.clone(),
        command: job.command.clone(),
        running: job.ended.is_none(),
        exit_code,
        signal,
        started_at: job.started_at.clone(),
        stdout_bytes: job.sizes[0],
        stderr_bytes: job.sizes[1],
        pgid: job.pgid,
        note,
    }
}

fn page_wire(id: String, stream: Stream, page: Page, job: Option<pb::Job>) -> pb::OutputPage {
    pb::OutputPage {
        output_id: id,
        stream: stream.name().to_owned(),
        data: page.data,
        encoding: page.encoding.name().to_owned(),
        offset: page.offset,
        next_offset: page.next_offset,
        total_bytes: page.stream.kept,
        eof: page.eof,
        note: page.stream.note.unwrap_or_default(),
        written_bytes: page.stream.written,
        job,
    }
}

impl OutputsService {
    async fn read_call(
        &self,
        entry: &Entry,
        req: pb::ReadOutputRequest,
    ) -> Result<pb::OutputPage, DaemonError> {
        let (wait_seconds, auth_sock) = (req.wait_seconds, req.ssh_auth_sock.clone());
        let page_req = page_request(req)?;
        let (id, stream) = (page_req.output_id.clone(), page_req.stream);
        let summary = format!("read {} of {id}", stream.name());
        if !id.starts_with(JOB_ID_PREFIX) {
            entry.admit(Call::none(summary)).await?;
            let blocking = &self.daemon.shutdown.commands;
            let page = self.daemon.outputs.read(page_req, blocking).await?;
            return Ok(page_wire(id, stream, page, None));
        }
        let wait = wait(wait_seconds)?;
        let host = job_host(entry, self.daemon.jobs.get(&id));
        entry.admit(job_call(host.as_ref(), summary)).await?;
        let (page, job) = job_run::read(
            &self.daemon,
            entry,
            JobPageRequest {
                id: id.clone(),
                stream,
                offset: page_req.offset,
                max_bytes: page_req.max_bytes,
                max_chars: page_req.max_chars,
                reader: page_req.reader,
                wait,
                auth_sock,
            },
        )
        .await?;
        Ok(page_wire(id, stream, page, Some(job_wire(&job, None))))
    }
}

#[tonic::async_trait]
impl Outputs for OutputsService {
    async fn read(
        &self,
        req: Request<pb::ReadOutputRequest>,
    ) -> Result<Response<pb::OutputPage>, Status> {
        let entry = self.daemon.door.enter(Method::OutputsRead, &req)?;
        let answer = self
            .read_call(&entry, req.into_inner())
            .await
            .map(Response::new)
            .map_err(Status::from);
        entry.settle(answer)
    }
}

pub struct JobsService {
    daemon: Daemon,
}

impl JobsService {
    pub fn new(daemon: Daemon) -> Self {
        Self { daemon }
    }

    async fn stop_call(
        &self,
        entry: &Entry,
        req: pb::StopJobRequest,
    ) -> Result<pb::Job, DaemonError> {
        let id = req.job_id.trim().to_owned();
        if JobId::parse(&id).is_none() {
            return Err(DaemonError::Invalid(InvalidInput(format!(
                "'job_id' {:?} is not a job id (they look like job-0123456789abcdef)",
                req.job_id
            ))));
        }
        let host = job_host(entry, self.daemon.jobs.get(&id));
        let summary = format!("stop job {id}");
        entry.admit(job_call(host.as_ref(), summary)).await?;
        let job = job_run::stop(&self.daemon, entry, &id, req.ssh_auth_sock).await?;
        Ok(job_wire(&job, None))
    }

    async fn list_call(
        &self,
        entry: &Entry,
        req: pb::ListJobsRequest,
    ) -> Result<pb::ListJobsReply, DaemonError> {
        entry.admit(Call::none("list jobs")).await?;
        let wanted = req.target.as_deref().map(str::trim);
        let listed = self
            .daemon
            .jobs
            .list()
            .into_iter()
            .filter(|j| wanted.is_none_or(|t| t == j.connection.target));
        // Running jobs are asked on their hosts, all at once.
        let asked = listed.map(|job| job_run::refresh(&self.daemon, entry, job));
        let jobs = crate::connection::join_all::join_all(asked).await;
        Ok(pb::ListJobsReply {
            jobs: jobs
                .into_iter()
                .map(|(job, note)| job_wire(&job, note))
                .collect(),
        })
    }
}

#[tonic::async_trait]
impl Jobs for JobsService {
    async fn stop(&self, req: Request<pb::StopJobRequest>) -> Result<Response<pb::Job>, Status> {
        let entry = self.daemon.door.enter(Method::JobsStop, &req)?;
        let answer = self
            .stop_call(&entry, req.into_inner())
            .await
            .map(Response::new)
            .map_err(Status::from);
        entry.settle(answer)
    }

    async fn list(
        &self,
        req: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsReply>, Status> {
        let entry = self.daemon.door.enter(Method::JobsList, &req)?;
        let answer = self
            .list_call(&entry, req.into_inner())
            .await
            .map(Response::new)
            .map_err(Status::from);
        entry.settle(answer)
    }
}

/// The host a job runs on: its connection as started (so that its options, a `User` or
/// `HostName` in `extra_ssh_args`, count for the policy as they did then), or its target as
/// written should the saved connection no longer validate.
fn job_host(entry: &Entry, job: Option<JobRecord>) -> Option<Result<Connection, String>> {
    let job = job?;
    let raw = RawCommon {
        connection: job.connection.to_raw(),
        ssh_auth_sock: None,
        timeout_seconds: None,
    };
    Some(
        entry
            .common(&raw)
            .map(|c| c.conn)
            .map_err(|_| job.connection.target),
    )
}

/// The door's view of a call on a job whose host is `host` (none for an unknown job).
fn job_call(host: Option<&Result<Connection, String>>, summary: String) -> Call<'_> {
    match host {
        Some(Ok(conn)) => Call::on(Subject::Connection(conn), summary),
        Some(Err(target)) => Call::on(Subject::Written(target), summary),
        None => Call::none(summary),
    }
}
