//! `sshmcp.v1.Transfers`: Scp and Sync. Validates the request, then runs the transfer in a task
//! on the `commands` tracker, forwarding progress and the outcome over the response stream. A
//! dropped stream cancels the transfer (its process group is ended).

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

use crate::config::home_dir;
use crate::error::DaemonError;
use crate::state::Daemon;
use crate::transfers::run::{self, Counters, Phase, TransferOutcome};
use crate::transfers::spec::{RawCommon, RawScp, RawSync, TransferSpec};

pub struct TransfersService {
    daemon: Daemon,
}

impl TransfersService {
    pub fn new(daemon: Daemon) -> Self {
        Self { daemon }
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<TransferEvent, Status>> + Send + 'static>>;

fn raw_common(c: Option<pb::TransferCommon>) -> (RawCommon, u32) {
    let c = c.unwrap_or_default();
    let (connection, ssh_auth_sock) = super::raw_connection(c.connection);
    (
        RawCommon {
            connection,
            ssh_auth_sock,
            direction: c.direction,
            timeout_seconds: c.timeout_seconds,
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
    fn start(&self, spec: TransferSpec, interval_ms: u32) -> Response<EventStream> {
        let spec = Arc::new(spec);
        let counters = Arc::new(Counters::default());
        let started = Instant::now();
        let daemon = self.daemon.clone();
        let stream = super::progress_stream::spawn(
            &self.daemon,
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

    fn check_running(&self) -> Result<Option<std::path::PathBuf>, Status> {
        if self.daemon.shutdown.is_requested() {
            return Err(DaemonError::ShuttingDown.into());
        }
        Ok(home_dir())
    }
}

#[tonic::async_trait]
impl Transfers for TransfersService {
    type ScpStream = EventStream;
    type SyncStream = EventStream;

    async fn scp(&self, req: Request<ScpRequest>) -> Result<Response<Self::ScpStream>, Status> {
        let home = self.check_running()?;
        let req = req.into_inner();
        let (common, interval_ms) = raw_common(req.common);
        let raw = RawScp {
            common,
            sources: req.sources,
            destination: req.destination,
            recursive: req.recursive,
            preserve_times: req.preserve_times,
        };
        let spec = TransferSpec::scp(raw, home.as_deref()).map_err(DaemonError::from)?;
        Ok(self.start(spec, interval_ms))
    }

    async fn sync(&self, req: Request<SyncRequest>) -> Result<Response<Self::SyncStream>, Status> {
        let home = self.check_running()?;
        let req = req.into_inner();
        let (common, interval_ms) = raw_common(req.common);
        let raw = RawSync {
            common,
            source: req.source,
            destination: req.destination,
            delete: req.delete,
            compress: req.compress,
            dry_run: req.dry_run,
            exclude: req.exclude,
            extra_rsync_args: req.extra_rsync_args,
        };
        let spec = TransferSpec::sync(raw, home.as_deref()).map_err(DaemonError::from)?;
        Ok(self.start(spec, interval_ms))
    }
}
