//! One transfer, from lease to outcome: lease a channel on the host's ControlMaster, start scp or
//! rsync (argv from `argv::scp` / `argv::rsync`) in its own process group with its ssh riding
//! on that master, report progress from the kernel's I/O counters, and on a timeout, a
//! cancellation or shutdown end the whole group (SIGTERM, then SIGKILL after a grace). scp
//! writes into a temporary directory beside the destination (`stage.rs`), put in place only
//! when the copy is complete. Then count what moved and, when asked, compare checksums on both
//! ends.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ssh_mcp_core::ssh::argv::{self, Operands, RsyncFlags};
use ssh_mcp_core::ssh::binaries;
use ssh_mcp_core::ssh::rsync_args::ExtraRsyncArgs;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

use super::checksum::{self, Before, FileSum, Report};
use super::local_tree;
use super::proc_io::{self, Counted};
use super::rsync_listing;
use super::rsync_stats;
use super::spec::{Direction, Tool, TransferSpec};
use super::stage::{self, Landed, WholeSizes};
use super::stage_local::LocalStage;
use super::stage_remote::RemoteStage;
use crate::connection::capture::Capture;
use crate::connection::sftp::RemoteFs;
use crate::connection::spawn;
use crate::error::DaemonError;
use crate::exec;
use crate::exec::stop::{self, StopReason};
use crate::files::remote_path;
use crate::state::Daemon;

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

    let mut staged = tokio::select! {
        staged = Staged::prepare(daemon, spec) => staged,
        reason = &mut stop => return stopped_before_start(reason, started),
    };
    let operands = staged
        .as_ref()
        .map_or_else(|| spec.operands.clone(), |s| s.operands(&spec.operands));
    let argv = match &spec.tool {
        Tool::Scp {
            recursive,
            preserve_times,
        } => argv::scp(
            &settings,
            &program,
            &spec.conn,
            &lease.control_path,
            &operands,
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
    let mut child = match spawn::transfer(&argv, spec.auth_sock.as_deref()) {
        Ok(child) => child,
        Err(e) => {
            if let Some(s) = staged.take() {
                s.discard().await;
            }
            return Err(e);
        }
    };
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

    let mut exit_code = status.and_then(|s| s.code());
    let signal = status.and_then(|s| s.signal());
    let mut stderr = stderr;
    // What scp wrote goes in place now, or (stopped) is removed.
    let landed = match staged.take() {
        None => None,
        Some(s) if stopped.is_some() => {
            s.discard().await;
            Some(Landed::default())
        }
        Some(s) => {
            let whole = match exit_code {
                Some(0) => None,
                _ => Some(s.whole_sizes(daemon, spec).await),
            };
            let (landed, error) = s.commit(whole.as_ref(), &daemon.shutdown.commands).await;
            stderr.extend(stage::notes(&landed, error.as_deref()));
            if error.is_some() && exit_code == Some(0) {
                exit_code = Some(1);
            }
            Some(landed)
        }
    };
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
    count_moved(
        spec,
        before,
        upload_tree.as_ref(),
        landed.as_ref(),
        ok,
        &mut outcome,
    );
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
    remote_sizes(daemon, spec).await?.into_iter().collect()
}

/// The size of each of a download's sources that is a regular file, over SFTP (None when no
/// SFTP session opens).
async fn remote_sizes(daemon: &Daemon, spec: &TransferSpec) -> Option<Vec<Option<u64>>> {
    let Operands::Download { sources, .. } = &spec.operands else {
        return None;
    };
    let remote = RemoteFs::open(daemon, &spec.conn, spec.auth_sock.as_deref())
        .await
        .ok()?;
    let mut fs = remote.sftp().fs();
    let mut sizes = Vec::with_capacity(sources.len());
    for s in sources {
        let size = match fs.metadata(remote_path::for_sftp(s.as_str())).await {
            Ok(meta) if meta.file_type().is_some_and(|t| t.is_file()) => meta.len(),
            _ => None,
        };
        sizes.push(size);
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

/// Files and bytes moved: rsync's statistics, or (scp) the files put in place.
fn count_moved(
    spec: &TransferSpec,
    before: Before,
    upload_tree: Option<&local_tree::Tree>,
    landed: Option<&Landed>,
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
        Tool::Scp { .. } => match (landed, upload_tree) {
            // An upload that completed: every local file went (the stage saw only the top).
            (Some(_), Some(tree)) if ok => {
                (outcome.files, outcome.bytes) = (tree.count(), tree.bytes())
            }
            (Some(l), _) => (outcome.files, outcome.bytes) = (l.files, l.bytes),
            (None, _) if ok => scp_in_place(spec, before, upload_tree, outcome),
            // scp wrote in place and failed: what arrived is not known.
            (None, _) => (outcome.files, outcome.bytes) = (0, 0),
        },
    }
}

/// What an scp that wrote in place moved: the files at the destination.
fn scp_in_place(
    spec: &TransferSpec,
    before: Before,
    upload_tree: Option<&local_tree::Tree>,
    outcome: &mut TransferOutcome,
) {
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

/// Hashes every transferred file on both ends: for scp the files it wrote, for rsync the files
/// its own listing says it selected.
async fn compare(
    daemon: &Daemon,
    spec: &TransferSpec,
    before: Before,
    cancel: &CancellationToken,
) -> Report {
    let pairs = match &spec.tool {
        Tool::Scp { .. } => tokio::task::block_in_place(|| checksum::pairs(spec, before)),
        Tool::Rsync { flags, extra } => match listing(daemon, spec, flags, extra, cancel).await {
            Ok(out) => rsync_listing::pairs(spec, before, &rsync_listing::parse(&out)),
            Err(e) => {
                return Report::failed(format!(
                    "rsync could not list the transferred files to compare: {e}"
                ));
            }
        },
    };
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
                    same: !p.differs && !local.is_empty() && local == remote,
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

/// scp's stage: on the host for an upload, here for a download.
enum Staged {
    /// Boxed: the SFTP session is large, and a download's stage small.
    Remote(Box<RemoteStage>),
    Local(LocalStage),
}

impl Staged {
    /// The stage of an scp transfer (None for rsync, which keeps temporary files of its own,
    /// and where scp should write in place).
    async fn prepare(daemon: &Daemon, spec: &TransferSpec) -> Option<Self> {
        let Tool::Scp { preserve_times, .. } = &spec.tool else {
            return None;
        };
        let keep_mode = !preserve_times;
        match &spec.operands {
            Operands::Upload {
                sources,
                destination,
            } => RemoteStage::prepare(daemon, spec, destination, sources.len(), keep_mode)
                .await
                .map(|s| Self::Remote(Box::new(s))),
            Operands::Download {
                sources,
                destination,
            } => tokio::task::block_in_place(|| {
                LocalStage::prepare(destination, sources.len(), keep_mode)
            })
            .map(Self::Local),
        }
    }

    /// `operands` with the stage in place of the destination.
    fn operands(&self, operands: &Operands) -> Operands {
        match (self, operands) {
            (Self::Remote(s), Operands::Upload { sources, .. }) => Operands::Upload {
                sources: sources.clone(),
                destination: s.operand(),
            },
            (Self::Local(s), Operands::Download { sources, .. }) => Operands::Download {
                sources: sources.clone(),
                destination: s.operand(),
            },
            _ => operands.clone(),
        }
    }

    /// After a failed copy: each entry's name with its source's size, for the sources that are
    /// regular files (local ones read here, remote ones stated over SFTP).
    async fn whole_sizes(&self, daemon: &Daemon, spec: &TransferSpec) -> WholeSizes {
        let named = match self {
            Self::Remote(s) => s.named().map(OsString::from),
            Self::Local(s) => s.named().cloned(),
        };
        let mut whole = WholeSizes::new();
        match &spec.operands {
            Operands::Upload { sources, .. } => {
                for s in sources {
                    let Ok(meta) = std::fs::metadata(s.as_path()) else {
                        continue;
                    };
                    let name = named
                        .clone()
                        .or_else(|| s.as_path().file_name().map(OsString::from));
                    if let (true, Some(name)) = (meta.is_file(), name) {
                        whole.insert(name, meta.len());
                    }
                }
            }
            Operands::Download { sources, .. } => {
                let sizes = remote_sizes(daemon, spec).await.unwrap_or_default();
                for (s, size) in sources.iter().zip(sizes) {
                    let name = named
                        .clone()
                        .unwrap_or_else(|| OsString::from(checksum::base(s.as_str())));
                    if let Some(size) = size {
                        whole.insert(name, size);
                    }
                }
            }
        }
        whole
    }

    async fn commit(
        self,
        whole: Option<&WholeSizes>,
        tracker: &tokio_util::task::TaskTracker,
    ) -> (Landed, Option<String>) {
        match self {
            Self::Remote(s) => s.commit(whole, tracker).await,
            Self::Local(s) => tokio::task::block_in_place(|| s.commit(whole)),
        }
    }

    async fn discard(self) {
        match self {
            Self::Remote(s) => s.discard().await,
            Self::Local(s) => tokio::task::block_in_place(|| s.discard()),
        }
    }
}

/// The output of `argv::rsync_listing` for this sync: every file rsync selects, and whether it
/// differs now. Its own process group, ended on `cancel` or after [`HELPER_TIMEOUT`].
async fn listing(
    daemon: &Daemon,
    spec: &TransferSpec,
    flags: &RsyncFlags,
    extra: &ExtraRsyncArgs,
    cancel: &CancellationToken,
) -> Result<Vec<u8>, String> {
    let program = program(&spec.tool).map_err(|e| e.to_string())?;
    let settings = daemon.masters.settings().map_err(|e| e.to_string())?;
    let lease = daemon
        .masters
        .acquire(&spec.conn, spec.auth_sock.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    let argv = argv::rsync_listing(
        &settings,
        &program,
        &spec.conn,
        &lease.control_path,
        &spec.operands,
        flags,
        extra,
    );
    tracing::debug!(argv = %argv.display(), "listing a sync for its checksums");
    let mut child = spawn::transfer(&argv, spec.auth_sock.as_deref()).map_err(|e| e.to_string())?;
    let tracker = &daemon.shutdown.commands;
    let stdout_task = child.stdout.take().map(|r| tracker.spawn(read_capped(r)));
    let stderr_task = child.stderr.take().map(|r| tracker.spawn(read_capped(r)));
    let status = tokio::select! {
        status = child.wait() => status.ok(),
        _ = cancel.cancelled() => None,
        _ = tokio::time::sleep(HELPER_TIMEOUT) => None,
    };
    if status.is_none() {
        spawn::signal_group(&child, libc::SIGKILL);
        let _ = child.wait().await;
    }
    drop(lease);
    let stdout = join_capped(stdout_task).await;
    let stderr = join_capped(stderr_task).await;
    match status.and_then(|s| s.code()) {
        // 24: some files vanished meanwhile; the others are listed.
        Some(0 | 24) if stdout.len() < OUTPUT_CAP => Ok(stdout),
        Some(0 | 24) => Err(format!(
            "its listing passed {OUTPUT_CAP} bytes; checksums compare at most {} files",
            checksum::MAX_FILES
        )),
        Some(code) => Err(format!(
            "it exited with {code}: {}",
            String::from_utf8_lossy(&stderr).trim()
        )),
        None => Err("it was stopped".into()),
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
