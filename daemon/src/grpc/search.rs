//! `sshmcp.v1.Search`: Grep and Glob. Validates the request, runs it, and turns the outcome into
//! the reply. A grep runs in a task on the `commands` tracker with a cancellation token that the
//! call's drop cancels, so a client that goes away ends the remote grep.

use ssh_mcp_core::pb::{
    self, GlobReply, GlobRequest, GrepReply, GrepRequest, search_server::Search,
};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::config::home_dir;
use crate::error::DaemonError;
use crate::search::glob::{self, GlobSpec, RawGlob};
use crate::search::grep::{self, GrepOutcome};
use crate::search::grep_output::Record;
use crate::search::grep_spec::{GrepSpec, RawGrep};
use crate::state::Daemon;

pub struct SearchService {
    daemon: Daemon,
}

impl SearchService {
    pub fn new(daemon: Daemon) -> Self {
        Self { daemon }
    }
}

pub(super) fn raw_grep(req: GrepRequest) -> RawGrep {
    let (connection, ssh_auth_sock) = super::raw_connection(req.connection);
    RawGrep {
        connection,
        ssh_auth_sock,
        pattern: req.pattern,
        path: req.path,
        glob: req.glob,
        case_insensitive: req.case_insensitive,
        output_mode: req.output_mode,
        context: req.context,
        context_before: req.context_before,
        context_after: req.context_after,
        head_limit: req.head_limit,
        timeout_seconds: req.timeout_seconds,
    }
}

pub(super) fn raw_glob(req: GlobRequest) -> RawGlob {
    let (connection, ssh_auth_sock) = super::raw_connection(req.connection);
    RawGlob {
        connection,
        ssh_auth_sock,
        pattern: req.pattern,
        path: req.path,
        head_limit: req.head_limit,
        timeout_seconds: req.timeout_seconds,
    }
}

fn grep_match(r: Record) -> pb::GrepMatch {
    match r {
        Record::File(path) => pb::GrepMatch {
            path,
            ..Default::default()
        },
        Record::Count { path, count } => pb::GrepMatch {
            path,
            count,
            ..Default::default()
        },
        Record::Line {
            path,
            line_number,
            line,
            is_context,
        } => pb::GrepMatch {
            path,
            line_number,
            line,
            is_context,
            ..Default::default()
        },
    }
}

fn grep_reply(spec: &GrepSpec, o: GrepOutcome) -> GrepReply {
    GrepReply {
        target: spec.conn.target.to_string(),
        pattern: spec.pattern.clone(),
        path: spec.path.clone(),
        output_mode: spec.mode.as_str().into(),
        matches: o.records.into_iter().map(grep_match).collect(),
        truncated: o.truncated,
        output_capped: o.output_capped,
        regex_flavor: o.flavor.as_str().into(),
        errors: o
            .errors
            .into_iter()
            .map(|e| pb::GrepError {
                path: e.path,
                message: e.message,
            })
            .collect(),
    }
}

#[tonic::async_trait]
impl Search for SearchService {
    async fn grep(&self, req: Request<GrepRequest>) -> Result<Response<GrepReply>, Status> {
        if self.daemon.shutdown.is_requested() {
            return Err(DaemonError::ShuttingDown.into());
        }
        let spec = GrepSpec::parse(raw_grep(req.into_inner()), home_dir().as_deref())
            .map_err(DaemonError::from)?;
        let cancel = CancellationToken::new();
        // Dropped with this call (the client went away): the task stops the remote grep.
        let _stop_on_drop = cancel.clone().drop_guard();
        let daemon = self.daemon.clone();
        let task = self.daemon.shutdown.commands.spawn(async move {
            let outcome = grep::run(&daemon, &spec, &cancel).await;
            outcome.map(|o| grep_reply(&spec, o))
        });
        match task.await {
            Ok(reply) => Ok(Response::new(reply?)),
            Err(e) => Err(DaemonError::Internal(format!("the search task failed: {e}")).into()),
        }
    }

    async fn glob(&self, req: Request<GlobRequest>) -> Result<Response<GlobReply>, Status> {
        if self.daemon.shutdown.is_requested() {
            return Err(DaemonError::ShuttingDown.into());
        }
        let spec = GlobSpec::parse(raw_glob(req.into_inner()), home_dir().as_deref())
            .map_err(DaemonError::from)?;
        let o = glob::run(&self.daemon, &spec).await?;
        Ok(Response::new(GlobReply {
            target: spec.conn.target.to_string(),
            path: spec.path,
            pattern: spec.pattern,
            matches: o.matches,
            truncated: o.truncated,
            walk_limited: o.walk_limited,
            entries_seen: o.entries_seen,
            unreadable_dirs: o.unreadable_dirs,
        }))
    }
}
