//! One transfer, from lease to outcome: lease a channel on the host's ControlMaster, start scp or
//! rsync (argv from `argv::scp` / `argv::rsync`) in its own process group with its ssh riding
//! on that master, report progress from the kernel's I/O counters, and on a timeout, a
//! cancellation or shutdown end the whole group (SIGTERM, then SIGKILL after a grace). Then count
//! what moved and, when asked, compare checksums on both ends.

use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ssh_mcp_core::ssh::argv::{self, Operands};
use ssh_mcp_core::ssh::binaries;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

use super::checksum::{self, Before, FileSum, Report};
use super::local_tree;
use super::proc_io::{self, Counted};
use super::rsync_stats;
use super::spec::{Direction, Tool, TransferSpec};
use crate::capture::Capture;
use crate::error::DaemonError;
use crate::exec;
use crate::files::remote_fs::RemoteFs;
use crate::spawn;
use crate::state::Daemon;
use crate::stop::{self, StopReason};

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

/// Runs `spec` to completion, or until the timeout, `cancel` or daemon shutdown stops it.
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

    // What is there before: the upload's files (the total), the local destination's kind.
    let upload_tree = match &spec.operands {
        Operands::Upload { sources, .. } => {
            let roots: Vec<_> = sources.iter().map(|s| s.as_path().to_path_buf()).collect();
            Some(tokio::task::block_in_place(|| local_tree::walk(&roots)))
        }
        Operands::Download { .. } => None,
    };
    if let Some(t) = &upload_tree {
        counters.total.store(t.bytes(), Ordering::Relaxed);
    }
    let mut before = Before {
        local_dest_was_dir: match &spec.operands {
            Operands::Download { destination, .. } => destination.as_path().is_dir(),
            Operands::Upload { .. } => false,
        },
        remote_dest_is_dir: false,
    };

    counters.set_phase(Phase::Connecting);
    // A download's total, when the client follows progress and every source is a file.
    let download_sizes = if spec.progress && spec.direction == Direction::Download {
        tokio::select! {
            sizes = download_sizes(daemon, spec) => sizes,
            reason = &mut stop => return stopped_before_start(reason, started),
        }
    } else {
        None
    };
    if let Some(sizes) = &download_sizes {
        counters.total.store(sizes.iter().sum(), Ordering::Relaxed);
    }
    let lease = tokio::select! {
        lease = daemon.masters.acquire(&spec.conn, spec.auth_sock.as_deref()) => lease?,
        reason = &mut stop => return stopped_before_start(reason, started),
    };
    if spec.checksum
        && let Operands::Upload { destination, .. } = &spec.operands
    {
        let out = tokio::select! {
            out = remote_sh(daemon, spec, checksum::is_dir_script(destination.as_str()), cancel) => out,
            reason = &mut stop => return stopped_before_start(reason, started),
        };
        before.remote_dest_is_dir = out.is_ok_and(|o| o.trim() == "dir");
    }

    let argv = match &spec.tool {
        Tool::Scp {
            recursive,
            preserve_times,
        } => argv::scp(
            &settings,
            &program,
            &spec.conn,
            &lease.control_path,
            &spec.operands,
            *recursive,
            *preserve_times,
        ),
        Tool::Rsync { flags, extra } => argv::rsync(
            &settings,
            &program,
            &spec.conn,
            &lease.control_path,
            &spec.operands,
            flags,
            extra,
        ),
    };
    tracing::debug!(argv = %argv.display(), "starting a transfer");
    counters.set_phase(Phase::Transferring);
    let mut child = spawn::transfer(&argv, spec.auth_sock.as_deref())?;
    let pgid = child.id().unwrap_or(0);
    let tracker = &daemon.shutdown.commands;
    let stdout_task = child.stdout.take().map(|r| tracker.spawn(read_capped(r)));
    let stderr_task = child.stderr.take().map(|r| tracker.spawn(read_capped(r)));

    let counted = match spec.direction {
        Direction::Upload => Counted::Read,
        Direction::Download => Counted::Written,
    };
    let sizes: Vec<u64> = match &upload_tree {
        Some(t) => t.files.iter().map(|(_, n)| *n).collect(),
        None => download_sizes.unwrap_or_default(),
    };
    let mut sampler = tokio::time::interval(SAMPLE_EVERY);
    let mut stopped = None;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status.ok(),
            reason = &mut stop => {
                stopped = Some(reason);
                break None;
            }
            _ = sampler.tick() => sample(pgid, counted, &sizes, counters),
        }
    };
    let status = match (status, stopped) {
        (Some(s), _) => Some(s),
        (None, Some(reason)) => {
            counters.set_phase(Phase::Stopping);
            tracing::info!(?reason, target = %spec.conn.target, "stopping a transfer");
            // The child is not reaped yet, so its pid still names its group.
            spawn::signal_group(&child, libc::SIGTERM);
            match tokio::time::timeout(TERM_GRACE, child.wait()).await {
                Ok(s) => s.ok(),
                Err(_) => {
                    spawn::signal_group(&child, libc::SIGKILL);
                    child.wait().await.ok()
                }
            }
        }
        (None, None) => None,
    };
    let reused_connection = lease.reused;
    drop(lease);
    let stdout = join_capped(stdout_task).await;
    let stderr = join_capped(stderr_task).await;
    sample(pgid, counted, &sizes, counters);

    let exit_code = status.and_then(|s| s.code());
    let signal = status.and_then(|s| s.signal());
    let ok = exit_code == Some(0) && stopped.is_none();
    let mut outcome = TransferOutcome {
        exit_code,
        signal,
        stdout,
        stderr,
        timed_out: stopped == Some(StopReason::Timeout),
        duration: Duration::ZERO,
        bytes: counters.bytes.load(Ordering::Relaxed),
        files: 0,
        reused_connection,
        checksum: None,
    };
    count_moved(spec, before, upload_tree.as_ref(), ok, &mut outcome);
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
            compare(daemon, spec, before, cancel).await
        });
    }
    outcome.duration = started.elapsed();
    Ok(outcome)
}

/// The sizes of a download's sources over SFTP, when every one is a regular file (else None:
/// a tree's size would cost a walk of the remote side).
async fn download_sizes(daemon: &Daemon, spec: &TransferSpec) -> Option<Vec<u64>> {
    let Operands::Download { sources, .. } = &spec.operands else {
        return None;
    };
    let remote = RemoteFs::open(daemon, &spec.conn, spec.auth_sock.as_deref())
        .await
        .ok()?;
    let mut fs = remote.sftp().fs();
    let mut sizes = Vec::with_capacity(sources.len());
    for s in sources {
        // SFTP paths are relative to the home directory already; `~/` is that too.
        let p = s.as_str();
        let p = p
            .strip_prefix("~/")
            .unwrap_or(if p == "~" { "." } else { p });
        let meta = fs.metadata(p).await.ok()?;
        if !meta.file_type().is_some_and(|t| t.is_file()) {
            return None;
        }
        sizes.push(meta.len()?);
    }
    drop(fs);
    remote.close().await;
    Some(sizes)
}

/// Reads the group's I/O counters into `counters`; for an upload, the files whose bytes were all
/// read count as done.
fn sample(pgid: u32, counted: Counted, sizes: &[u64], counters: &Counters) {
    if pgid == 0 {
        return;
    }
    let now = proc_io::group_bytes(pgid, counted);
    // The group's processes end one by one; the figure never goes back.
    let bytes = counters.bytes.fetch_max(now, Ordering::Relaxed).max(now);
    let bytes = counters.total().map_or(bytes, |t| bytes.min(t));
    counters.bytes.store(bytes, Ordering::Relaxed);
    if !sizes.is_empty() {
        let mut sum = 0u64;
        let done = sizes
            .iter()
            .take_while(|n| {
                sum += **n;
                sum <= bytes
            })
            .count();
        counters.files.store(done as u64, Ordering::Relaxed);
    }
}

/// Files and bytes moved: rsync's statistics, or (scp) the files themselves.
fn count_moved(
    spec: &TransferSpec,
    before: Before,
    upload_tree: Option<&local_tree::Tree>,
    ok: bool,
    outcome: &mut TransferOutcome,
) {
    match &spec.tool {
        Tool::Rsync { extra, .. } => {
            let text = String::from_utf8_lossy(&outcome.stdout).into_owned();
            let human = extra.count_flag("--human-readable");
            if let Some(stats) = rsync_stats::parse(&text, human) {
                outcome.files = stats.files;
                outcome.bytes = stats.bytes;
            }
            if !extra.has_flag("--stats") {
                let verbose = extra.has_flag("--verbose");
                outcome.stdout = rsync_stats::without_stats(&text, verbose).into_bytes();
            }
        }
        Tool::Scp { .. } if ok => {
            let tree = match upload_tree {
                Some(t) => t.clone(),
                None => {
                    let roots = checksum::local_roots(spec, before);
                    tokio::task::block_in_place(|| local_tree::walk(&roots))
                }
            };
            outcome.files = tree.count();
            outcome.bytes = tree.bytes();
        }
        Tool::Scp { .. } => {}
    }
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

/// Runs a POSIX script on the host (as sh, whatever the login shell) over the pool; its stdout.
async fn remote_sh(
    daemon: &Daemon,
    spec: &TransferSpec,
    script: String,
    cancel: &CancellationToken,
) -> Result<String, String> {
    let exec_spec = exec::script_spec(
        spec.conn.clone(),
        spec.auth_sock.clone(),
        script,
        Some(HELPER_TIMEOUT),
        OUTPUT_CAP,
    );
    let counters = exec::Counters::default();
    let out = exec::run(daemon, &exec_spec, &counters, &cancel.child_token())
        .await
        .map_err(|e| e.to_string())?;
    if out.exit_code != Some(0) {
        return Err(format!(
            "the remote check exited with {:?}: {}",
            out.exit_code,
            String::from_utf8_lossy(&out.stderr.bytes).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout.bytes).into_owned())
}

/// Hashes every transferred file on both ends.
async fn compare(
    daemon: &Daemon,
    spec: &TransferSpec,
    before: Before,
    cancel: &CancellationToken,
) -> Report {
    let pairs = tokio::task::block_in_place(|| checksum::pairs(spec, before));
    if pairs.is_empty() {
        return Report::failed("no transferred file was found to compare");
    }
    if pairs.len() > checksum::MAX_FILES {
        return Report::failed(format!(
            "{} files were transferred; checksums compare at most {}",
            pairs.len(),
            checksum::MAX_FILES
        ));
    }
    let remote_paths: Vec<String> = pairs.iter().map(|p| p.remote.clone()).collect();
    let remote = match remote_sh(daemon, spec, checksum::remote_script(&remote_paths), cancel).await
    {
        Ok(out) => checksum::parse_remote(&out, pairs.len()),
        Err(e) => return Report::failed(format!("the remote checksums failed: {e}")),
    };
    let files: Vec<FileSum> = tokio::task::block_in_place(|| {
        pairs
            .iter()
            .zip(remote)
            .map(|(p, r)| {
                let local = checksum::local_sha256(&p.local).unwrap_or_default();
                let remote = r.unwrap_or_default();
                FileSum {
                    local_path: p.local.display().to_string(),
                    remote_path: p.remote.clone(),
                    same: !local.is_empty() && local == remote,
                    local_sha256: local,
                    remote_sha256: remote,
                }
            })
            .collect()
    });
    let all = files.iter().all(|f| f.same);
    Report {
        files,
        all_match: Some(all),
        error: None,
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
