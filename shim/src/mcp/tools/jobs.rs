//! `ssh_stop_job` and `ssh_list_jobs`: background jobs (`ssh_exec` with `background: true`)
//! ended on their hosts, and listed with their state (`Jobs.Stop`, `Jobs.List`).

use rmcp::handler::server::common::schema_for_output;
use rmcp::schemars::{self, JsonSchema};
use rmcp::{tool, tool_router};
use serde::{Deserialize, Serialize};
use ssh_mcp_wire::pb;

use super::call::{daemon_tool, mcp_entry};
use super::services::Jobs;
use crate::mcp::{result, schema};

/// A job as the tools show it. Optional fields are absent rather than null (see `schema.rs`).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(transform = schema::portable)]
pub struct Job {
    pub job_id: String,
    pub target: String,
    pub command: String,
    pub running: bool,
    /// The command's exit status once it has ended by itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The signal that ssh_stop_job ended it with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    pub started_at: String,
    /// Output sizes as last seen on the host.
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    /// The job's process group on the host.
    pub pgid: u32,
    /// Why the state may be stale (the host could not be asked), or that the job's files are gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl From<pb::Job> for Job {
    fn from(j: pb::Job) -> Self {
        Self {
            job_id: j.job_id,
            target: j.target,
            command: j.command,
            running: j.running,
            exit_code: j.exit_code,
            signal: j.signal,
            started_at: j.started_at,
            stdout_bytes: j.stdout_bytes,
            stderr_bytes: j.stderr_bytes,
            pgid: j.pgid,
            note: (!j.note.is_empty()).then_some(j.note),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StopJobArgs {
    pub job_id: String,
}

/// ssh_stop_job's answer.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(transform = schema::portable)]
pub struct Stopped {
    pub ok: bool,
    #[serde(flatten)]
    pub job: Job,
}

daemon_tool! {
    /// `ssh_stop_job` on the one generic path (`call.rs`).
    SshStopJob: Jobs::stop(StopJobArgs => pb::StopJobRequest) -> pb::Job,
    |args, _caller| pb::StopJobRequest {
        job_id: args.job_id,
        ssh_auth_sock: super::connection::caller_auth_sock(),
    },
    |reply| result::success(&Stopped { ok: true, job: Job::from(reply) })
}

mcp_entry! {
    ssh_stop_job_router: ssh_stop_job(StopJobArgs) => call_unary::<SshStopJob>,
    name = "ssh_stop_job",
    description = "End a background job's processes on its host (SIGTERM, then SIGKILL).",
    title = "Stop a background job",
    output_schema = schema_for_output::<Stopped>(),
    annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = true)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::portable)]
pub struct ListJobsArgs {
    pub target: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(transform = schema::portable)]
pub struct JobList {
    pub count: usize,
    pub jobs: Vec<Job>,
}

daemon_tool! {
    /// `ssh_list_jobs` on the one generic path (`call.rs`).
    SshListJobs: Jobs::list(ListJobsArgs => pb::ListJobsRequest) -> pb::ListJobsReply,
    |args, _caller| pb::ListJobsRequest { target: args.target },
    |reply| {
        let jobs: Vec<Job> = reply.jobs.into_iter().map(Job::from).collect();
        result::success(&JobList { count: jobs.len(), jobs })
    }
}

mcp_entry! {
    ssh_list_jobs_router: ssh_list_jobs(ListJobsArgs) => call_unary::<SshListJobs>,
    name = "ssh_list_jobs",
    description = "List background jobs with their state (running, exit_code).",
    title = "List background jobs",
    output_schema = schema_for_output::<JobList>(),
    annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = false, open_world_hint = true)
}
