//! Reaching a job's host, each step one helper script through the exec path (so it works
//! whatever the login shell, over the pooled master): start a job, read a page of its output
//! (waiting on the host for more when asked), stop it, and remove its files once it has ended
//! and its output was read to the end.

use std::time::{Duration, Instant};

use ssh_mcp_core::ssh::remote::jobs::{self as scripts, JobEnd, JobId, ReadHeader};
use tokio_util::sync::CancellationToken;

use super::{Ended, JobRecord, SavedConnection, index, unix_now};
use crate::door::{Entry, RawCommon};
use crate::error::DaemonError;
use crate::exec::{self, Counters, ExecOutcome, ExecSpec};
use crate::outputs::Stream;
use crate::outputs::page::{self, Page};
use crate::state::Daemon;

/// The longest a read may wait for more output on the host.
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// Time a helper gets beyond its own waiting (a master to open, a slow host).
const HELPER_SLACK: Duration = Duration::from_secs(30);
/// The longest start script: sshd hands the remote command to the login shell as one argument.
const MAX_START_SCRIPT_BYTES: usize = 120 * 1024;
/// How long a stop gives the job's group between SIGTERM and SIGKILL.
const STOP_GRACE_TENTHS: u32 = 20;

/// Runs `script` on the host of `conn` (validated by the door as any call's connection).
async fn helper(
    daemon: &Daemon,
    entry: &Entry,
    conn: &SavedConnection,
    auth_sock: Option<String>,
    script: String,
    timeout: Duration,
    max_output: usize,
) -> Result<ExecOutcome, DaemonError> {
    let common = entry.common(&RawCommon {
        connection: conn.to_raw(),
        ssh_auth_sock: auth_sock,
        timeout_seconds: Some(timeout.as_secs_f64()),
    })?;
    let spec = exec::script_spec(
        common.conn,
        common.auth_sock,
        script,
        common.timeout,
        max_output,
    );
    exec::run(
        daemon,
        &spec,
        &Counters::default(),
        &CancellationToken::new(),
    )
    .await
}

fn failed(what: &str, o: &ExecOutcome) -> DaemonError {
    DaemonError::RemoteFile(format!(
        "{what} failed on the host (exit {}): {}",
        o.exit_code.map_or("none".into(), |c| c.to_string()),
        String::from_utf8_lossy(&o.stderr.bytes).trim()
    ))
}

/// A job that has started.
pub struct Started {
    pub job: JobRecord,
    pub duration: Duration,
    pub reused_connection: bool,
}

/// Starts `spec`'s command as job on its host and records it (synced to disk before the call
/// returns, so a daemon that dies next still knows it).
pub async fn start(
    daemon: &Daemon,
    spec: &ExecSpec,
    saved: SavedConnection,
    client: String,
    cancel: &CancellationToken,
) -> Result<Started, DaemonError> {
    let began = Instant::now();
    let id = JobId::parse(&format!(
        "{}{}",
        scripts::JOB_ID_PREFIX,
        crate::connection::pid_report::nonce()
    ))
    .ok_or_else(|| DaemonError::Internal("a job id could not be made".into()))?;
    let script = scripts::start_script(&id, &spec.remote_command, super::KEEP_DAYS);
    if script.len() > MAX_START_SCRIPT_BYTES {
        return Err(DaemonError::Invalid(ssh_mcp_core::ssh::InvalidInput(
            format!(
                "'command' is too long for a background job ({} bytes with its wrapper; at most \
             {MAX_START_SCRIPT_BYTES}): put a long script in a file (ssh_create) and run that",
                script.len()
            ),
        )));
    }
    let helper_spec = exec::script_spec(
        spec.conn.clone(),
        spec.auth_sock.clone(),
        script,
        Some(HELPER_SLACK),
        64 * 1024,
    );
    let o = exec::run(daemon, &helper_spec, &Counters::default(), cancel).await?;
    let stdout = String::from_utf8_lossy(&o.stdout.bytes).into_owned();
    let (pgid, dir) = match (o.exit_code, scripts::parse_started(&stdout, &id)) {
        (Some(0), Some(started)) => started,
        _ => return Err(failed("starting the background job", &o)),
    };
    let job = JobRecord {
        id: id.as_str().to_owned(),
        connection: saved,
        command: spec.command.clone(),
        dir,
        pgid,
        started_at: crate::trust::audit::now_rfc3339(),
        started_unix: unix_now(),
        client,
        ended: None,
        sizes: [0, 0],
        cursors: Default::default(),
        read_to: [0, 0],
        removed: false,
    };
    daemon.jobs.put(job.clone(), true);
    tracing::info!(job = %job.id, target = %job.connection.target, pgid, "background job started");
    Ok(Started {
        job,
        duration: began.elapsed(),
        reused_connection: o.reused_connection,
    })
}

/// The job's end from what the host said, if it has ended.
fn end_of(header: &ReadHeader) -> Option<Ended> {
    match header.status.as_deref().and_then(scripts::parse_status) {
        Some(JobEnd::Exited(code)) => Some(Ended::Exited(code)),
        Some(JobEnd::Stopped(sig)) => Some(Ended::Stopped(sig)),
        None if !header.alive => Some(Ended::Lost),
        None => None,
    }
}

/// A page of a job's output, as asked.
pub struct JobPageRequest {
    pub id: String,
    pub stream: Stream,
    pub offset: Option<u64>,
    pub max_bytes: u64,
    pub max_chars: usize,
    pub reader: String,
    pub wait: Duration,
    pub auth_sock: Option<String>,
}

/// No job has this id, or its files are gone.
fn unknown(id: &str) -> DaemonError {
    DaemonError::UnknownOutput(format!(
        "no job '{id}': jobs are kept {} days after they end; this one has expired or never \
         existed (ssh_list_jobs lists the jobs there are)",
        super::KEEP_DAYS
    ))
}

/// Reads a page of a job's output: from `offset`, else where this reader's last page ended,
/// waiting on the host up to `wait` for more output or the end.
pub async fn read(
    daemon: &Daemon,
    entry: &Entry,
    req: JobPageRequest,
) -> Result<(Page, JobRecord), DaemonError> {
    let job = daemon.jobs.get(&req.id).ok_or_else(|| unknown(&req.id))?;
    let i = index(req.stream);
    let offset = req
        .offset
        .or_else(|| job.cursor(&req.reader, req.stream))
        .unwrap_or(0);
    if job.removed && offset >= job.sizes[i] {
        // Everything of this stream was read before the files went: its end, again.
        let page = Page {
            data: Vec::new(),
            encoding: page::Encoding::Utf8,
            offset,
            next_offset: offset,
            eof: true,
            stream: crate::outputs::StreamKept {
                kept: job.sizes[i],
                written: job.sizes[i],
                note: None,
            },
        };
        return Ok((page, job));
    }
    if job.removed {
        return Err(DaemonError::UnknownOutput(format!(
            "job '{}' has ended ({}) and its output was read to the end, so its files on the \
             host were removed",
            job.id,
            describe_end(job.ended)
        )));
    }
    let wait = req.wait.min(MAX_WAIT);
    let script = scripts::read_script(
        &job.dir,
        job.pgid,
        req.stream.name(),
        offset,
        req.max_bytes,
        (wait.as_millis() / 100) as u32,
    );
    let o = helper(
        daemon,
        entry,
        &job.connection,
        req.auth_sock.clone(),
        script,
        wait + HELPER_SLACK,
        req.max_bytes as usize + 64 * 1024,
    )
    .await?;
    let stderr = String::from_utf8_lossy(&o.stderr.bytes);
    let Some(header) = scripts::parse_read_header(&stderr) else {
        return Err(failed("reading the job's output", &o));
    };
    let ended = job.ended.or(end_of(&header));
    let size = header.sizes[i];
    if offset > size {
        return Err(DaemonError::Invalid(ssh_mcp_core::ssh::InvalidInput(
            format!(
                "'offset' {offset} is past the end of {}'s {} ({size} bytes so far)",
                job.id,
                req.stream.name()
            ),
        )));
    }
    let data = o.stdout.bytes;
    let at_end = ended.is_some() && offset + data.len() as u64 == size;
    let (len, encoding) = page::fit(&data, at_end, req.max_chars);
    let mut data = data;
    data.truncate(len);
    let next_offset = offset + len as u64;
    let reader = req.reader.clone();
    let updated = daemon
        .jobs
        .update(&job.id, |j| {
            j.ended = ended;
            j.sizes = header.sizes;
            let c = j.cursors.entry(reader).or_insert([0, 0]);
            c[i] = next_offset;
            j.read_to[i] = j.read_to[i].max(next_offset);
        })
        .unwrap_or(job);
    let page = Page {
        data,
        encoding,
        offset,
        next_offset,
        eof: ended.is_some() && next_offset == size,
        stream: crate::outputs::StreamKept {
            kept: size,
            written: size,
            note: None,
        },
    };
    let updated = if updated.done_with() {
        remove_files(daemon, entry, updated, req.auth_sock).await
    } else {
        updated
    };
    Ok((page, updated))
}

/// Removes an ended job's files on its host once its output was read to the end.
async fn remove_files(
    daemon: &Daemon,
    entry: &Entry,
    job: JobRecord,
    auth_sock: Option<String>,
) -> JobRecord {
    let removed = helper(
        daemon,
        entry,
        &job.connection,
        auth_sock,
        scripts::remove_script(&job.dir),
        HELPER_SLACK,
        4096,
    )
    .await;
    match removed {
        Ok(o) if o.exit_code == Some(0) => {
            tracing::info!(job = %job.id, "job read to the end: its files on the host are removed");
            daemon
                .jobs
                .update(&job.id, |j| j.removed = true)
                .unwrap_or(job)
        }
        _ => job,
    }
}

/// Ends a job's process group on its host; the record with how it ended.
pub async fn stop(
    daemon: &Daemon,
    entry: &Entry,
    id: &str,
    auth_sock: Option<String>,
) -> Result<JobRecord, DaemonError> {
    let job = daemon.jobs.get(id).ok_or_else(|| unknown(id))?;
    if job.removed || matches!(job.ended, Some(Ended::Exited(_) | Ended::Stopped(_))) {
        return Ok(job);
    }
    let o = helper(
        daemon,
        entry,
        &job.connection,
        auth_sock,
        scripts::stop_script(&job.dir, job.pgid, STOP_GRACE_TENTHS),
        HELPER_SLACK,
        4096,
    )
    .await?;
    if o.exit_code != Some(0) {
        return Err(failed("stopping the job", &o));
    }
    let said = String::from_utf8_lossy(&o.stdout.bytes).trim().to_owned();
    let stopped = said.parse::<i32>().ok();
    tracing::info!(job = %job.id, said = %said, "job stopped");
    Ok(daemon
        .jobs
        .update(id, |j| {
            if let Some(sig) = stopped {
                j.ended = Some(Ended::Stopped(sig));
            }
        })
        .unwrap_or(job))
}

/// The job's state asked on its host (no output read), for a listing; the record as it was when
/// the host cannot be asked, with why.
pub async fn refresh(
    daemon: &Daemon,
    entry: &Entry,
    job: JobRecord,
) -> (JobRecord, Option<String>) {
    if job.removed || job.ended.is_some() {
        return (job, None);
    }
    let script = scripts::read_script(&job.dir, job.pgid, "stdout", 0, 0, 0);
    let asked = helper(
        daemon,
        entry,
        &job.connection,
        None,
        script,
        Duration::from_secs(10),
        4096,
    )
    .await;
    let header = match &asked {
        Ok(o) => scripts::parse_read_header(&String::from_utf8_lossy(&o.stderr.bytes)),
        Err(_) => None,
    };
    match header {
        Some(h) => {
            let ended = end_of(&h);
            let job = daemon
                .jobs
                .update(&job.id, |j| {
                    j.ended = ended;
                    j.sizes = h.sizes;
                })
                .unwrap_or(job);
            (job, None)
        }
        None => {
            let why = match asked {
                Err(e) => e.to_string(),
                Ok(o) => failed("asking about the job", &o).to_string(),
            };
            (job, Some(why))
        }
    }
}

/// How a job ended, in words.
pub fn describe_end(ended: Option<Ended>) -> String {
    match ended {
        Some(Ended::Exited(code)) => format!("exit {code}"),
        Some(Ended::Stopped(sig)) => format!("stopped by signal {sig}"),
        Some(Ended::Lost) => "its processes are gone and it left no status".into(),
        None => "running".into(),
    }
}
