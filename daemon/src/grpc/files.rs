//! `sshmcp.v1.Files`: View, Create, Edit. Converts wire types into the file requests of
//! `files::spec`, runs the call in a task on the `commands` tracker (so an edit under way
//! finishes, or cleans up, even when the client goes away, and shutdown waits for it), and
//! turns the answer back into wire types.

use ssh_mcp_core::pb::{self, files_server::Files};
use tonic::{Request, Response, Status};

use crate::config::home_dir;
use crate::error::DaemonError;
use crate::files::call::{self, Done};
use crate::files::listing::Kind;
use crate::files::replace::Edit;
use crate::files::spec::{FileCall, RawCommon, RawCreate, RawEdit, RawView};
use crate::files::view::Viewed;
use crate::state::Daemon;

/// The largest request accepted: a create or an edit carries content up to the 32 MiB the file
/// tools handle, plus room (tonic's default is 4 MiB).
pub const MAX_MESSAGE_BYTES: usize = 40 << 20;

pub struct FilesService {
    daemon: Daemon,
}

impl FilesService {
    pub fn new(daemon: Daemon) -> Self {
        Self { daemon }
    }

    /// Runs a validated call to its end in a tracked task.
    async fn run(
        &self,
        parsed: Result<FileCall, ssh_mcp_core::ssh::InvalidInput>,
    ) -> Result<(FileCall, Done), Status> {
        if self.daemon.shutdown.is_requested() {
            return Err(DaemonError::ShuttingDown.into());
        }
        let call = parsed.map_err(DaemonError::from)?;
        let daemon = self.daemon.clone();
        let task = self.daemon.shutdown.commands.spawn(async move {
            let done = call::run(&daemon, &call).await;
            done.map(|d| (call, d))
        });
        match task.await {
            Ok(result) => result.map_err(Status::from),
            Err(e) => Err(DaemonError::Internal(format!("the file call failed: {e}")).into()),
        }
    }
}

fn common(
    connection: Option<pb::Connection>,
    path: String,
    timeout_seconds: Option<f64>,
) -> RawCommon {
    let (connection, ssh_auth_sock) = super::raw_connection(connection);
    RawCommon {
        connection,
        ssh_auth_sock,
        path,
        timeout_seconds,
    }
}

#[tonic::async_trait]
impl Files for FilesService {
    async fn view(
        &self,
        req: Request<pb::ViewRequest>,
    ) -> Result<Response<pb::ViewResult>, Status> {
        let r = req.into_inner();
        let raw = RawView {
            common: common(r.connection, r.path, r.timeout_seconds),
            view_range: r.view_range,
            force_read_large_files: r.force_read_large_files,
            max_bytes: r.max_bytes,
            line_numbers: r.line_numbers,
        };
        let (call, done) = self.run(FileCall::view(raw, home_dir().as_deref())).await?;
        let mut out = pb::ViewResult {
            target: call.conn.target.to_string(),
            path: call.path().to_owned(),
            ..Default::default()
        };
        match done {
            Done::Viewed(Viewed::File(f)) => {
                out.content = f.content;
                out.size_bytes = f.size_bytes;
                out.total_lines = f.total_lines;
                out.truncated = f.truncated;
                out.start_line = f.lines.map(|(s, _)| s);
                out.end_line = f.lines.map(|(_, e)| e);
                out.note = f.note;
            }
            Done::Viewed(Viewed::Directory(l)) => {
                out.is_directory = true;
                out.entries_truncated = l.truncated;
                out.entries = l
                    .entries
                    .into_iter()
                    .map(|e| pb::DirEntry {
                        path: e.path,
                        is_directory: e.kind == Kind::Directory,
                    })
                    .collect();
            }
            _ => return Err(Status::internal("a view answered with another result")),
        }
        Ok(Response::new(out))
    }

    async fn create(
        &self,
        req: Request<pb::CreateRequest>,
    ) -> Result<Response<pb::CreateResult>, Status> {
        let r = req.into_inner();
        let raw = RawCreate {
            common: common(r.connection, r.path, r.timeout_seconds),
            content: r.content,
            make_parents: r.make_parents,
        };
        let (call, done) = self
            .run(FileCall::create(raw, home_dir().as_deref()))
            .await?;
        let Done::Created(c) = done else {
            return Err(Status::internal("a create answered with another result"));
        };
        Ok(Response::new(pb::CreateResult {
            target: call.conn.target.to_string(),
            path: call.path().to_owned(),
            bytes_written: c.bytes_written,
            directories_created: c.directories_created,
        }))
    }

    async fn edit(
        &self,
        req: Request<pb::EditRequest>,
    ) -> Result<Response<pb::EditResult>, Status> {
        let r = req.into_inner();
        let raw = RawEdit {
            common: common(r.connection, r.path, r.timeout_seconds),
            edits: r
                .edits
                .into_iter()
                .map(|e| Edit {
                    old_str: e.old_str,
                    new_str: e.new_str,
                    replace_all: e.replace_all,
                })
                .collect(),
        };
        let (call, done) = self.run(FileCall::edit(raw, home_dir().as_deref())).await?;
        let Done::Edited(e) = done else {
            return Err(Status::internal("an edit answered with another result"));
        };
        Ok(Response::new(pb::EditResult {
            target: call.conn.target.to_string(),
            path: call.path().to_owned(),
            edits_applied: e.edits_applied,
            replacements: e.replacements,
            bytes_written: e.bytes_written,
            atomic: e.atomic,
            note: e.note,
        }))
    }
}
