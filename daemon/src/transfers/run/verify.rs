//! The checksum phase, when asked: every transferred file hashed on both ends, paired by scp's
//! naming rules or by rsync's own listing of what it selected; and the remote helper scripts it
//! runs through the exec path.

use ssh_mcp_core::ssh::argv;
use ssh_mcp_core::ssh::argv::rsync::{RsyncCall, RsyncFlags};
use ssh_mcp_core::ssh::transfers::extra_rsync_args::ExtraRsyncArgs;
use tokio_util::sync::CancellationToken;

use super::{HELPER_TIMEOUT, OUTPUT_CAP, join_capped, program, read_capped};
use crate::connection::spawn;
use crate::exec;
use crate::state::Daemon;
use crate::transfers::checksum::{self, Before, FileSum, Report};
use crate::transfers::rsync_listing;
use crate::transfers::spec::{Tool, TransferSpec};

/// Runs a POSIX script on the host (as sh, whatever the login shell) over the pool; its stdout.
pub(super) async fn remote_sh(
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
pub(super) async fn compare(
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

/// The output of `argv::rsync::rsync_listing` for this sync: every file rsync selects, and
/// whether it differs now. Its own process group, ended on `cancel` or after [`HELPER_TIMEOUT`].
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
    let argv = argv::rsync::rsync_listing(&RsyncCall {
        settings: &settings,
        rsync: &program,
        conn: &spec.conn,
        control_path: &lease.control_path,
        operands: &spec.operands,
        flags,
        extra,
    });
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
