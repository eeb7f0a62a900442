//! `sshmcp.v1.Files`: View, Create, Edit. Converts wire types into the file requests of
//! `files::spec`, runs the call in a task on the `commands` tracker (so an edit under way
//! finishes, or cleans up, even when the client goes away, and shutdown waits for it), and
//! turns the answer back into wire types.

use ssh_mcp_core::pb::{self, files_server::Files};
use tonic::{Request, Response, Status};

use crate::door::{Call, Entry, Method};
use crate::error::DaemonError;
use crate::files::call::{self, Shown};
use crate::files::listing::Kind;
use crate::files::replace::Edit;
use crate::files::spec::{FileCall, FileOp, RawCreate, RawEdit, RawView};
use crate::state::Daemon;
use crate::trust::Subject;

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

    /// Admits a validated call (see `door::Entry::admit`) and runs `work` on it to its end in a
    /// tracked task; the call comes back with the answer.
    async fn run<O, T, F, Fut>(
        &self,
        entry: &Entry,
        parsed: Result<FileCall<O>, ssh_mcp_core::ssh::InvalidInput>,
        verb: &str,
        work: F,
    ) -> Result<(FileCall<O>, T), Status>
    where
        O: FileOp + Send + Sync + 'static,
        T: Send + 'static,
        F: FnOnce(Daemon, FileCall<O>) -> Fut,
        Fut: Future<Output = Result<(FileCall<O>, T), DaemonError>> + Send + 'static,
    {
        let call = parsed.map_err(DaemonError::from)?;
        entry
            .admit(Call::on(
                Subject::Connection(&call.conn),
                format!("{verb} {}", call.path()),
            ))
            .await?;
        let task = self
            .daemon
            .shutdown
            .commands
            .spawn(work(self.daemon.clone(), call));
        match task.await {
            Ok(result) => result.map_err(Status::from),
            Err(e) => Err(DaemonError::Internal(format!("the file call failed: {e}")).into()),
        }
    }
}

#[tonic::async_trait]
impl Files for FilesService {
    async fn view(
        &self,
        req: Request<pb::ViewRequest>,
    ) -> Result<Response<pb::ViewResult>, Status> {
        let entry = self.daemon.door.enter(Method::FilesView, &req)?;
        entry.settle(self.view_call(&entry, req).await)
    }

    async fn create(
        &self,
        req: Request<pb::CreateRequest>,
    ) -> Result<Response<pb::CreateResult>, Status> {
        let entry = self.daemon.door.enter(Method::FilesCreate, &req)?;
        entry.settle(self.create_call(&entry, req).await)
    }

    async fn edit(
        &self,
        req: Request<pb::EditRequest>,
    ) -> Result<Response<pb::EditResult>, Status> {
        let entry = self.daemon.door.enter(Method::FilesEdit, &req)?;
        entry.settle(self.edit_call(&entry, req).await)
    }
}

impl FilesService {
    async fn view_call(
        &self,
        entry: &Entry,
        req: Request<pb::ViewRequest>,
    ) -> Result<Response<pb::ViewResult>, Status> {
        let r = req.into_inner();
        let common = entry.common(&super::raw_common(r.connection, r.timeout_seconds))?;
        let raw = RawView {
            path: r.path,
            view_range: r.view_range,
            force_read_large_files: r.force_read_large_files,
            max_bytes: r.max_bytes,
            line_numbers: r.line_numbers,
        };
        let (call, done) = self
            .run(
                entry,
                FileCall::view(common, raw),
                "view",
                |d, c| async move {
                    let viewed = call::view(&d, &c).await?;
                    Ok((c, viewed))
                },
            )
            .await?;
        let mut out = pb::ViewResult {
            target: call.conn.target.to_string(),
            path: call.path().to_owned(),
            ..Default::default()
        };
        match done {
            Shown::File(f) => {
                out.content = f.content;
                out.size_bytes = f.size_bytes;
                out.total_lines = f.total_lines;
                out.truncated = f.truncated;
                out.start_line = f.lines.map(|(s, _)| s);
                out.end_line = f.lines.map(|(_, e)| e);
                out.note = f.note;
            }
            Shown::Directory(l) => {
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
        }
        Ok(Response::new(out))
    }

    async fn create_call(
        &self,
        entry: &Entry,
        req: Request<pb::CreateRequest>,
    ) -> Result<Response<pb::CreateResult>, Status> {
        let r = req.into_inner();
        let common = entry.common(&super::raw_common(r.connection, r.timeout_seconds))?;
        let raw = RawCreate {
            path: r.path,
            content: r.content,
            make_parents: r.make_parents,
        };
        let (call, done) = self
            .run(
                entry,
                FileCall::create(common, raw),
                "create",
                |d, c| async move {
                    let created = call::create(&d, &c).await?;
                    Ok((c, created))
                },
            )
            .await?;
        let c = done;
        Ok(Response::new(pb::CreateResult {
            target: call.conn.target.to_string(),
            path: call.path().to_owned(),
            bytes_written: c.bytes_written,
            directories_created: c.directories_created,
        }))
    }

    async fn edit_call(
        &self,
        entry: &Entry,
        req: Request<pb::EditRequest>,
    ) -> Result<Response<pb::EditResult>, Status> {
        let r = req.into_inner();
        let common = entry.common(&super::raw_common(r.connection, r.timeout_seconds))?;
        let raw = RawEdit {
            path: r.path,
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
        let (call, done) = self
            .run(
                entry,
                FileCall::edit(common, raw),
                "edit",
                |d, c| async move {
                    let edited = call::edit(&d, &c).await?;
                    Ok((c, edited))
                },
            )
            .await?;
        let e = done;
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
