//! `sshmcp.v1.Search`: Grep and Glob. Validates the request, runs it, and turns the outcome into
//! the reply. A grep runs in a task on the `commands` tracker with a cancellation token that the
//! call's drop cancels, so a client that goes away ends the remote grep.

use ssh_mcp_core::pb::{
    self, GlobReply, GlobRequest, GrepReply, GrepRequest, search_server::Search,
};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::door::{Call, Entry, Method, RawCommon};
use crate::error::DaemonError;
use crate::search::glob::{self, GlobSpec, RawGlob};
use crate::search::grep::{self, GrepOutcome};
use crate::search::grep_output::Record;
use crate::search::grep_spec::{GrepSpec, RawGrep};
use crate::state::Daemon;
use crate::trust::Subject;

pub struct SearchService {
    daemon: Daemon,
}

impl SearchService {
    pub fn new(daemon: Daemon) -> Self {
        Self { daemon }
    }
}

pub(super) fn raw_grep(req: GrepRequest) -> (RawCommon, RawGrep) {
    let common = super::raw_common(req.connection, req.timeout_seconds);
    let grep = RawGrep {
        pattern: req.pattern,
        path: req.path,
        glob: req.glob,
        case_insensitive: req.case_insensitive,
        output_mode: req.output_mode,
        context: req.context,
        context_before: req.context_before,
        context_after: req.context_after,
        head_limit: req.head_limit,
    };
    (common, grep)
}

pub(super) fn raw_glob(req: GlobRequest) -> (RawCommon, RawGlob) {
    let common = super::raw_common(req.connection, req.timeout_seconds);
    let glob = RawGlob {
        pattern: req.pattern,
        path: req.path,
        head_limit: req.head_limit,
    };
    (common, glob)
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
        let entry = self.daemon.door.enter(Method::SearchGrep, &req)?;
        entry.settle(self.grep_call(&entry, req).await)
    }

    async fn glob(&self, req: Request<GlobRequest>) -> Result<Response<GlobReply>, Status> {
        let entry = self.daemon.door.enter(Method::SearchGlob, &req)?;
        entry.settle(self.glob_call(&entry, req).await)
    }
}

impl SearchService {
    async fn grep_call(
        &self,
        entry: &Entry,
        req: Request<GrepRequest>,
    ) -> Result<Response<GrepReply>, Status> {
        let (common, raw) = raw_grep(req.into_inner());
        let spec = GrepSpec::parse(entry.common(&common)?, raw).map_err(DaemonError::from)?;
        entry
            .admit(Call::on(
                Subject::Connection(&spec.conn),
                format!("grep {:?} in {}", spec.pattern, spec.path),
            ))
            .await?;
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

    async fn glob_call(
        &self,
        entry: &Entry,
        req: Request<GlobRequest>,
    ) -> Result<Response<GlobReply>, Status> {
        let (common, raw) = raw_glob(req.into_inner());
        let spec = GlobSpec::parse(entry.common(&common)?, raw).map_err(DaemonError::from)?;
        entry
            .admit(Call::on(
                Subject::Connection(&spec.conn),
                format!("glob {:?} in {}", spec.pattern, spec.path),
            ))
            .await?;
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
