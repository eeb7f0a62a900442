//! One transfer, from lease to outcome: lease a channel on the host's ControlMaster, start scp or
//! rsync (argv from `argv::scp::scp` / `argv::rsync::rsync`) in its own process group with its
//! ssh riding on that master, report progress from the kernel's I/O counters, and on a timeout, a
//! cancellation or shutdown end the whole group (SIGTERM, then SIGKILL after a grace). scp
//! writes into a temporary directory beside the destination (`stage.rs`), put in place only
//! when the copy is complete. Then count what moved and, when asked, compare checksums on both
//! ends.
//!
//! [`run`] goes through named phases, a file each: `prepare` (what is there before, the lease,
//! scp's stage in `staged`), the start (here), `watch`, `account` and `verify` (checksums).

use std::path::Path;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ssh_mcp_core::ssh::argv::rsync::RsyncCall;
use ssh_mcp_core::ssh::argv::{self, SshSettings};
use ssh_mcp_core::ssh::binaries;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

use super::checksum::Report;
use super::proc_io::Counted;
use super::spec::{Direction, Tool, TransferSpec};
use crate::connection::capture::Capture;
use crate::connection::spawn;
use crate::error::DaemonError;
use crate::exec::stop::{self, StopReason};
use crate::state::Daemon;
use account::PreparedRest;
use prepare::{Early, Prepared};

mod account;
mod prepare;
mod staged;
mod verify;
mod watch;

/// Bytes kept of scp's or rsync's stdout and of its stderr.
const OUTPUT_CAP: usize = 1024 * 1024;
/// How often the I/O counters are read while a transfer runs.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// Time scp or rsync gets between SIGTERM and SIGKILL when stopped (the seed's 0.5 s).
const TERM_GRACE: Duration = Duration::from_millis(500);
/// How long the output readers may take after the process ended.
const READER_GRACE: Duration = Duration::from_secs(2);
/// Limit on each remote helper script (the checksum, the destination check).
const HELPER_TIMEOUT: Duration = Duration::from_secs(600);

/// What the transfer is doing, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    Connecting = 0,
    Transferring = 1,
    Checksumming = 2,
    Stopping = 3,
}

/// Live figures of one transfer, read by the progress reporter.
#[derive(Debug)]
pub struct Counters {
    pub bytes: AtomicU64,
    pub files: AtomicU64,
    /// u64::MAX while unknown.
    pub total: AtomicU64,
    phase: AtomicU8,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            bytes: AtomicU64::new(0),
            files: AtomicU64::new(0),
            total: AtomicU64::new(u64::MAX),
            phase: AtomicU8::new(0),
        }
    }
}

impl Counters {
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Connecting,
            1 => Phase::Transferring,
            2 => Phase::Checksumming,
            _ => Phase::Stopping,
        }
    }

    fn set_phase(&self, p: Phase) {
        self.phase.store(p as u8, Ordering::Relaxed);
    }

    pub fn total(&self) -> Option<u64> {
        Some(self.total.load(Ordering::Relaxed)).filter(|t| *t != u64::MAX)
    }
}

/// The result of a transfer that ran (or was stopped).
#[derive(Debug, Clone, Default)]
pub struct TransferOutcome {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub timed_out: bool,
    pub duration: Duration,
    pub bytes: u64,
    pub files: u64,
    pub reused_connection: bool,
    pub checksum: Option<Report>,
}

fn program(tool: &Tool) -> Result<std::path::PathBuf, DaemonError> {
    Ok(match tool {
        Tool::Scp { .. } => binaries::resolve("SCP client", "SSH_MCP_SCP_BIN", "scp")?,
        Tool::Rsync { .. } => binaries::resolve("rsync client", "SSH_MCP_RSYNC_BIN", "rsync")?,
    })
}

/// Runs `spec` to completion, or until the timeout, `cancel` or daemon shutdown stops it: the
/// phases `prepare`, `start` (here), `watch`, `account`, and `verify` when checksums are asked.
pub async fn run(
    daemon: &Daemon,
    spec: &TransferSpec,
    counters: &Counters,
    cancel: &CancellationToken,
) -> Result<TransferOutcome, DaemonError> {
    let started = Instant::now();
    let stop = stop::first_reason(daemon, cancel, started, spec.timeout);
    tokio::pin!(stop);
    let program = program(&spec.tool)?;
    let settings = daemon.masters.settings()?;
    let mut prepared = match prepare::prepare(daemon, spec, counters, cancel, &mut stop).await {
        Ok(p) => p,
        Err(Early::Stopped(reason)) => return stopped_before_start(reason, started),
        Err(Early::Failed(e)) => return Err(e),
    };
    let mut running = match start(daemon, spec, &settings, &program, &prepared, counters) {
        Ok(running) => running,
        Err(e) => {
            if let Some(s) = prepared.staged.take() {
                s.discard().await;
            }
            return Err(e);
        }
    };
    let counted = match spec.direction {
        Direction::Upload => Counted::Read,
        Direction::Download => Counted::Written,
    };
    let sizes: Vec<u64> = match &prepared.upload_tree {
        Some(t) => t.files.iter().map(|(_, n)| *n).collect(),
        None => prepared.download_sizes.take().unwrap_or_default(),
    };
    let (status, stopped) = watch::until_end_or_stop(
        &mut running.child,
        spec,
        running.pgid,
        counted,
        &sizes,
        counters,
        &mut stop,
    )
    .await;
    let (rest, lease) = PreparedRest::of(prepared);
    let before = rest.before;
    let reused_connection = lease.reused;
    drop(lease);
    let stdout = join_capped(running.stdout_task).await;
    let stderr = join_capped(running.stderr_task).await;
    watch::sample(running.pgid, counted, &sizes, counters);
    let ended = account::Ended {
        status,
        stopped,
        stdout,
        stderr,
        reused_connection,
    };
    let (mut outcome, ok) = account::outcome(daemon, spec, counters, rest, ended).await;
    if stopped == Some(StopReason::Cancelled) {
        return Err(DaemonError::Cancelled);
    }
    if spec.checksum {
        counters.set_phase(Phase::Checksumming);
        let dry_run = matches!(&spec.tool, Tool::Rsync { flags, extra }
            if flags.dry_run || extra.has_flag("--dry-run") || extra.has_flag("--list-only"));
        outcome.checksum = Some(if !ok {
            Report::failed("the transfer did not succeed, so nothing was compared")
        } else if dry_run {
            Report::failed("dry_run: nothing was transferred, so nothing was compared")
        } else {
            verify::compare(daemon, spec, before, cancel).await
        });
    }
    outcome.duration = started.elapsed();
    Ok(outcome)
}

/// The tool's process, started in a group of its own, and its output readers.
struct Running {
    child: tokio::process::Child,
    pgid: u32,
    stdout_task: Option<tokio::task::JoinHandle<Vec<u8>>>,
    stderr_task: Option<tokio::task::JoinHandle<Vec<u8>>>,
}

/// The start phase: scp's or rsync's argv (scp writing into its stage), with its ssh on the
/// lease's master, started in its own process group.
fn start(
    daemon: &Daemon,
    spec: &TransferSpec,
    settings: &SshSettings,
    program: &Path,
    prepared: &Prepared,
    counters: &Counters,
) -> Result<Running, DaemonError> {
    let control_path = &prepared.lease.control_path;
    let argv = match &spec.tool {
        Tool::Scp {
            recursive,
            preserve_times,
        } => {
            let operands = prepared
                .staged
                .as_ref()
                .map_or_else(|| spec.operands.clone(), |s| s.operands(&spec.operands));
            argv::scp::scp(
                settings,
                program,
                &spec.conn,
                control_path,
                &operands,
                *recursive,
                *preserve_times,
            )
        }
        Tool::Rsync { flags, extra } => argv::rsync::rsync(&RsyncCall {
            settings,
            rsync: program,
            conn: &spec.conn,
            control_path,
            operands: &spec.operands,
            flags,
            extra,
        }),
    };
    tracing::debug!(argv = %argv.display(), "starting a transfer");
    counters.set_phase(Phase::Transferring);
    let mut child = spawn::transfer(&argv, spec.auth_sock.as_deref())?;
    let pgid = child.id().unwrap_or(0);
    let tracker = &daemon.shutdown.commands;
    let stdout_task = child.stdout.take().map(|r| tracker.spawn(read_capped(r)));
    let stderr_task = child.stderr.take().map(|r| tracker.spawn(read_capped(r)));
    Ok(Running {
        child,
        pgid,
        stdout_task,
        stderr_task,
    })
}

fn stopped_before_start(
    reason: StopReason,
    started: Instant,
) -> Result<TransferOutcome, DaemonError> {
    match reason {
        StopReason::Cancelled => Err(DaemonError::Cancelled),
        StopReason::Shutdown => Err(DaemonError::ShuttingDown),
        StopReason::Timeout => Ok(TransferOutcome {
            stderr: b"ssh-mcp: timed out while connecting\n".to_vec(),
            timed_out: true,
            duration: started.elapsed(),
            ..Default::default()
        }),
    }
}

async fn read_capped(mut reader: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut capture = Capture::new(OUTPUT_CAP);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => capture.push(&buf[..n]),
        }
    }
    capture.finish().bytes
}

async fn join_capped(task: Option<tokio::task::JoinHandle<Vec<u8>>>) -> Vec<u8> {
    match task {
        Some(t) => tokio::time::timeout(READER_GRACE, t)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default(),
        None => Vec::new(),
    }
}
