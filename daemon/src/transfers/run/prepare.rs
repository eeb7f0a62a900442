//! The first phase of a transfer: what is there before it (the upload's files and their total,
//! the kind of the destination, a download's sizes), a lease on the host's master, and scp's
//! stage. A stop meanwhile ends the transfer before anything started.

use std::sync::atomic::Ordering;

use ssh_mcp_core::ssh::argv::transfer::Operands;

use super::staged::Staged;
use super::verify::remote_sh;
use super::{Counters, Phase};
use crate::connection::masters::Lease;
use crate::connection::sftp::RemoteFs;
use crate::error::DaemonError;
use crate::exec::stop::StopReason;
use crate::files::remote_path;
use crate::state::Daemon;
use crate::transfers::checksum::{self, Before};
use crate::transfers::local_tree;
use crate::transfers::spec::{Direction, TransferSpec};
use tokio_util::sync::CancellationToken;

/// What the transfer starts with.
pub(super) struct Prepared {
    /// An upload's local files (its total, and what an scp that completed moved).
    pub upload_tree: Option<local_tree::Tree>,
    pub before: Before,
    /// A download's sizes, when the client follows progress and every source is a file.
    pub download_sizes: Option<Vec<u64>>,
    pub lease: Lease,
    pub staged: Option<Staged>,
}

/// Why the transfer ended before it started.
pub(super) enum Early {
    Stopped(StopReason),
    Failed(DaemonError),
}

pub(super) async fn prepare(
    daemon: &Daemon,
    spec: &TransferSpec,
    counters: &Counters,
    cancel: &CancellationToken,
    stop: &mut (impl std::future::Future<Output = StopReason> + Unpin),
) -> Result<Prepared, Early> {
    // What is there before: the upload's files (the total), the local destination's kind.
    let upload_tree = match &spec.operands {
        Operands::Upload { sources, .. } => {
            let roots: Vec<_> = sources.iter().map(|s| s.as_path().to_path_buf()).collect();
            let links = crate::transfers::followed_links::links_in(spec);
            Some(tokio::task::block_in_place(|| {
                local_tree::walk(&roots, links)
            }))
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
            reason = &mut *stop => return Err(Early::Stopped(reason)),
        }
    } else {
        None
    };
    if let Some(sizes) = &download_sizes {
        counters.total.store(sizes.iter().sum(), Ordering::Relaxed);
    }
    let lease = tokio::select! {
        lease = daemon.masters.acquire(&spec.conn, spec.auth_sock.as_deref()) => lease.map_err(Early::Failed)?,
        reason = &mut *stop => return Err(Early::Stopped(reason)),
    };
    if spec.checksum
        && let Operands::Upload { destination, .. } = &spec.operands
    {
        let out = tokio::select! {
            out = remote_sh(daemon, spec, checksum::is_dir_script(destination.as_str()), cancel) => out,
            reason = &mut *stop => return Err(Early::Stopped(reason)),
        };
        before.remote_dest_is_dir = out.is_ok_and(|o| o.trim() == "dir");
    }

    let staged = tokio::select! {
        staged = Staged::prepare(daemon, spec) => staged,
        reason = &mut *stop => return Err(Early::Stopped(reason)),
    };
    Ok(Prepared {
        upload_tree,
        before,
        download_sizes,
        lease,
        staged,
    })
}

/// The sizes of a download's sources over SFTP, when every one is a regular file (else None:
/// a tree's size would cost a walk of the remote side).
pub(super) async fn download_sizes(daemon: &Daemon, spec: &TransferSpec) -> Option<Vec<u64>> {
    remote_sizes(daemon, spec).await?.into_iter().collect()
}

/// The size of each of a download's sources that is a regular file, over SFTP (None when no
/// SFTP session opens).
pub(super) async fn remote_sizes(daemon: &Daemon, spec: &TransferSpec) -> Option<Vec<Option<u64>>> {
    let Operands::Download { sources, .. } = &spec.operands else {
        return None;
    };
    let remote = RemoteFs::open(&daemon.masters, &spec.conn, spec.auth_sock.as_deref())
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
