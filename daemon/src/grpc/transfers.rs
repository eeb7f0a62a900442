//! `sshmcp.v1.Transfers`: Scp and Sync. Validates the request, then runs the transfer in a task
//! on the `commands` tracker, forwarding progress and the outcome over the response stream. A
//! dropped stream cancels the transfer (its process group is ended).

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use ssh_mcp_core::pb::{
    self, ScpRequest, SyncRequest, TransferEvent, transfer_event::Event,
    transfers_server::Transfers,
};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use ssh_mcp_core::ssh::argv::transfer::Operands;

use crate::door::{Call, Ended, Entry, LocalUse, Method, RawCommon};
use crate::error::DaemonError;
use crate::state::Daemon;
use crate::transfers::followed_links;
use crate::transfers::run::{self, Counters, Phase, TransferOutcome};
use crate::transfers::spec::{RawScp, RawShared, RawSync, Tool, TransferSpec};
use crate::trust::Subject;
use crate::trust::policy::local::Landing;

impl super::progress_stream::Audited for TransferOutcome {
    fn ended(&self) -> Ended {
        Ended::exited(self.exit_code)
    }
}

pub struct TransfersService {
    daemon: Daemon,
}

impl TransfersService {
    pub fn new(daemon: Daemon) -> Self {
        Self { daemon }
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<TransferEvent, Status>> + Send + 'static>>;

/// The door's common fields, what scp and rsync share, and the progress interval.
fn raw_parts(c: Option<pb::TransferCommon>) -> (RawCommon, RawShared, u32) {
    let c = c.unwrap_or_default();
    (
        super::raw_common(c.connection, c.timeout_seconds),
        RawShared {
            direction: c.direction,
            checksum: c.checksum,
            local_cwd: c.local_cwd,
            progress: c.progress_interval_ms > 0,
        },
        c.progress_interval_ms,
    )
}

fn finished(spec: &TransferSpec, o: TransferOutcome) -> TransferEvent {
    let (checksums, checksum_match, checksum_error) = match o.checksum {
        Some(r) => (
            r.files
                .into_iter()
                .map(|f| pb::FileChecksum {
                    local_path: f.local_path,
                    remote_path: f.remote_path,
                    local_sha256: f.local_sha256,
                    remote_sha256: f.remote_sha256,
                    same: f.same,
                })
                .collect(),
            r.all_match,
            r.error,
        ),
        None => (Vec::new(), None, None),
    };
    TransferEvent {
        event: Some(Event::Finished(pb::TransferFinished {
            exit_code: o.exit_code,
            signal: o.signal,
            stdout: o.stdout,
            stderr: o.stderr,
            timed_out: o.timed_out,
            duration_ms: o.duration.as_millis() as u64,
            target: spec.conn.target.to_string(),
            direction: spec.direction.as_str().to_owned(),
            bytes_transferred: o.bytes,
            files_transferred: o.files,
            reused_connection: o.reused_connection,
            checksums,
            checksum_match,
            checksum_error,
        })),
    }
}

fn progress(started: Instant, counters: &Counters) -> TransferEvent {
    let phase = match counters.phase() {
        Phase::Connecting => "connecting",
        Phase::Transferring => "transferring",
        Phase::Checksumming => "checksumming",
        Phase::Stopping => "stopping",
    };
    TransferEvent {
        event: Some(Event::Progress(pb::TransferProgress {
            elapsed_ms: started.elapsed().as_millis() as u64,
            bytes: counters.bytes.load(Ordering::Relaxed),
            files: counters.files.load(Ordering::Relaxed),
            total_bytes: counters.total(),
            phase: phase.to_owned(),
        })),
    }
}

impl TransfersService {
    fn start(&self, entry: &Entry, spec: TransferSpec, interval_ms: u32) -> Response<EventStream> {
        let spec = Arc::new(spec);
        let counters = Arc::new(Counters::default());
        let started = Instant::now();
        let daemon = self.daemon.clone();
        let stream = super::progress_stream::spawn(
            &self.daemon,
            entry.clone(),
            format!("transfer with {}", spec.conn.target),
            interval_ms,
            {
                let (spec, counters) = (spec.clone(), counters.clone());
                move |cancel| async move { run::run(&daemon, &spec, &counters, &cancel).await }
            },
            move || progress(started, &counters),
            move |outcome| finished(&spec, outcome),
        );
        Response::new(Box::pin(stream))
    }
}

#[tonic::async_trait]
impl Transfers for TransfersService {
    type ScpStream = EventStream;
    type SyncStream = EventStream;

    async fn scp(&self, req: Request<ScpRequest>) -> Result<Response<Self::ScpStream>, Status> {
        let entry = self.daemon.door.enter(Method::TransfersScp, &req)?;
        entry.settle_stream(self.scp_call(&entry, req).await)
    }

    async fn sync(&self, req: Request<SyncRequest>) -> Result<Response<Self::SyncStream>, Status> {
        let entry = self.daemon.door.enter(Method::TransfersSync, &req)?;
        entry.settle_stream(self.sync_call(&entry, req).await)
    }
}

impl TransfersService {
    /// The links the copy would follow (see `transfers::followed_links`), each for the door to
    /// check: inside an upload's trees, as a source is; inside a `--keep-dirlinks` download's
    /// landing, as a place it writes. Found on the blocking pool, since a tree may hold
    /// thousands of entries.
    async fn links_followed(
        &self,
        spec: &TransferSpec,
        uses: &[LocalUse],
    ) -> Result<Vec<LocalUse>, DaemonError> {
        let (trees, written): (Vec<PathBuf>, bool) = if followed_links::writes_through_links(spec) {
            let landings = uses.iter().filter_map(|u| match u {
                LocalUse::Write(landing) if landing.path.is_dir() => Some(landing.path.clone()),
                _ => None,
            });
            (landings.collect(), true)
        } else {
            (followed_links::trees_followed(spec), false)
        };
        if trees.is_empty() {
            return Ok(Vec::new());
        }
        let links = self
            .daemon
            .shutdown
            .commands
            .spawn_blocking(move || followed_links::inside(&trees))
            .await
            .map_err(|e| DaemonError::Internal(format!("checking a transfer's links: {e}")))?
            .map_err(|e| DaemonError::Invalid(ssh_mcp_core::ssh::InvalidInput(e.to_string())))?;
        Ok(links
            .into_iter()
            .filter_map(|link| {
                let tree = link.is_dir();
                if written {
                    // Only a link to a folder is written through.
                    tree.then_some(LocalUse::WrittenThrough { link })
                } else {
                    Some(LocalUse::Followed { link, tree })
                }
            })
            .collect())
    }

    async fn scp_call(
        &self,
        entry: &Entry,
        req: Request<ScpRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let req = req.into_inner();
        let (common, shared, interval_ms) = raw_parts(req.common);
        let common = entry.common(&common)?;
        let summary = format!(
            "scp {} {} to {}",
            shared.direction,
            req.sources.join(" "),
            req.destination
        );
        let raw = RawScp {
            shared,
            sources: req.sources,
            destination: req.destination,
            recursive: req.recursive,
            preserve_times: req.preserve_times,
        };
        let spec = TransferSpec::scp(common, raw, entry.home()).map_err(DaemonError::from)?;
        let mut uses = local_uses(&spec);
        uses.extend(self.links_followed(&spec, &uses).await?);
        entry
            .admit(Call::on(Subject::Connection(&spec.conn), summary).local(uses))
            .await?;
        Ok(self.start(entry, spec, interval_ms))
    }

    async fn sync_call(
        &self,
        entry: &Entry,
        req: Request<SyncRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let req = req.into_inner();
        let (common, shared, interval_ms) = raw_parts(req.common);
        let common = entry.common(&common)?;
        let summary = format!(
            "rsync {} {} to {}",
            shared.direction, req.source, req.destination
        );
        let raw = RawSync {
            shared,
            source: req.source,
            destination: req.destination,
            delete: req.delete,
            compress: req.compress,
            dry_run: req.dry_run,
            exclude: req.exclude,
            extra_rsync_args: req.extra_rsync_args,
        };
        let spec = TransferSpec::sync(common, raw, entry.home()).map_err(DaemonError::from)?;
        let mut uses = local_uses(&spec);
        uses.extend(self.links_followed(&spec, &uses).await?);
        entry
            .admit(Call::on(Subject::Connection(&spec.conn), summary).local(uses))
            .await?;
        Ok(self.start(entry, spec, interval_ms))
    }
}

/// The local paths a transfer reads (upload sources) or writes (where a download lands), for
/// the policy's `[local]` rules. A download lands at the destination itself when it does not
/// exist as a directory, or when the names it creates there are not known in advance (rsync's
/// `src/`, a remote glob, `.`); else at `destination/<source's name>`. What lands as a tree
/// must not reach a protected path either.
fn local_uses(spec: &TransferSpec) -> Vec<LocalUse> {
    let tree = match &spec.tool {
        Tool::Scp { recursive, .. } => *recursive,
        Tool::Rsync { .. } => true,
    };
    match &spec.operands {
        Operands::Upload { sources, .. } => sources
            .iter()
            .map(|s| LocalUse::Read {
                path: s.as_path().to_path_buf(),
                tree: tree && s.as_path().is_dir(),
            })
            .collect(),
        Operands::Download {
            sources,
            destination,
        } => {
            let dest = destination.as_path();
            let into_dir = dest.is_dir();
            sources
                .iter()
                .map(|s| {
                    let raw = s.as_str();
                    let contents_only =
                        matches!(spec.tool, Tool::Rsync { .. }) && raw.ends_with('/');
                    let name = raw.trim_end_matches('/').rsplit('/').next().unwrap_or("");
                    let unknown_names = name.is_empty()
                        || name == "."
                        || name == ".."
                        || name.contains(['*', '?', '[', '{']);
                    if !into_dir {
                        LocalUse::Write(Landing {
                            path: dest.to_path_buf(),
                            tree,
                        })
                    } else if contents_only || unknown_names {
                        LocalUse::Write(Landing {
                            path: dest.to_path_buf(),
                            tree: true,
                        })
                    } else {
                        LocalUse::Write(Landing {
                            path: dest.join(name),
                            tree,
                        })
                    }
                })
                .collect()
        }
    }
}
