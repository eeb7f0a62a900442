//! The account phase: scp's stage put in place (or removed after a stop), then the outcome with
//! the files and bytes that moved (rsync's statistics, or what scp put in place).

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::prepare::Prepared;
use super::{Counters, TransferOutcome};
use crate::exec::stop::StopReason;
use crate::state::Daemon;
use crate::transfers::checksum::{self, Before};
use crate::transfers::local_tree;
use crate::transfers::rsync_stats;
use crate::transfers::spec::{Tool, TransferSpec};
use crate::transfers::stage::{self, Landed};

/// How the tool ended, as the watch phase saw it.
pub(super) struct Ended {
    pub status: Option<ExitStatus>,
    pub stopped: Option<StopReason>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub reused_connection: bool,
}

/// The outcome (without checksums and duration), and whether the transfer succeeded.
pub(super) async fn outcome(
    daemon: &Daemon,
    spec: &TransferSpec,
    counters: &Counters,
    prepared: PreparedRest,
    ended: Ended,
) -> (TransferOutcome, bool) {
    let PreparedRest {
        upload_tree,
        before,
        staged,
    } = prepared;
    let Ended {
        status,
        stopped,
        stdout,
        mut stderr,
        reused_connection,
    } = ended;
    let mut exit_code = status.and_then(|s| s.code());
    let signal = status.and_then(|s| s.signal());
    // What scp wrote goes in place now, or (stopped) is removed.
    let landed = match staged {
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
    (outcome, ok)
}

/// What the account needs of the first phase, once the lease is given back.
pub(super) struct PreparedRest {
    pub upload_tree: Option<local_tree::Tree>,
    pub before: Before,
    pub staged: Option<super::staged::Staged>,
}

impl PreparedRest {
    pub(super) fn of(p: Prepared) -> (Self, crate::connection::masters::Lease) {
        (
            Self {
                upload_tree: p.upload_tree,
                before: p.before,
                staged: p.staged,
            },
            p.lease,
        )
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
            let links = crate::transfers::followed_links::links_in(spec);
            tokio::task::block_in_place(|| local_tree::walk(&roots, links))
        }
    };
    outcome.files = tree.count();
    outcome.bytes = tree.bytes();
}
