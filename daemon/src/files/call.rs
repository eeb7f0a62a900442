//! One file call on a host, from a validated [`FileCall`] to its answer, by a typed entry point
//! per tool ([`view`], [`create`], [`edit`]): an SFTP session on a pooled master ([`RemoteFs`]),
//! the flow the call asks for, then the session closed (after the answer). The timeout covers it all, the connection included. A directory SFTP cannot list is
//! listed by `find` on the host (`shell_listing`), and what an edit must know that SFTP cannot
//! say (hard links, ACL, extended attributes) is asked by a script through the exec path
//! ([`ExecProbe`]).

use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use tokio_util::sync::CancellationToken;

use ssh_mcp_core::ssh::options::connection::Connection;

use super::create::{self, Created};
use super::edit::{self, EditRequest, Edited};
use super::host_facts::{self, FileFacts, Probe};
use super::listing::Listing;
use super::spec::{CreateRequest, FileCall, FileOp};
use super::view::{self, FileView, ViewRequest, Viewed};
use super::{messages, remote_path, shell_listing};
use crate::connection::sftp::RemoteFs;
use crate::error::DaemonError;
use crate::exec::{self, Counters};
use crate::state::Daemon;

/// How long closing the SFTP session may take before it is simply dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

fn timed_out_before_writing(path: &str) -> DaemonError {
    DaemonError::RemoteFile(format!(
        "{} Nothing was written.",
        messages::timed_out(path)
    ))
}

/// What `ssh_view` shows.
#[derive(Debug)]
pub enum Shown {
    File(FileView),
    Directory(Listing),
}

/// `ssh_view`: the file's content, or the directory's listing (by `find` on the host when SFTP
/// cannot list it).
pub async fn view(daemon: &Daemon, call: &FileCall<ViewRequest>) -> Result<Shown, DaemonError> {
    let path = call.path();
    let deadline = deadline_of(call);
    let fs = open_session(daemon, call, deadline).await?;
    let work = view::view(fs.sftp(), &call.op);
    let viewed = match deadline {
        Some(at) => tokio::time::timeout_at(at, work)
            .await
            .unwrap_or_else(|_| Err(messages::timed_out(path))),
        None => work.await,
    };
    close_later(daemon, fs);
    match viewed? {
        Viewed::File(f) => Ok(Shown::File(f)),
        Viewed::Directory(l) => Ok(Shown::Directory(l)),
        Viewed::NeedsShellListing => list_by_shell(daemon, call, deadline)
            .await
            .map(Shown::Directory),
    }
}

/// `ssh_create`: a new file (and its parents when asked).
pub async fn create(
    daemon: &Daemon,
    call: &FileCall<CreateRequest>,
) -> Result<Created, DaemonError> {
    let deadline = deadline_of(call);
    let req = &call.op;
    let fs = open_session(daemon, call, deadline).await?;
    let created = create::create(
        fs.sftp(),
        &req.path,
        &req.content,
        req.make_parents,
        deadline,
    )
    .await;
    close_later(daemon, fs);
    created
}

/// `ssh_edit`: the edits applied, in turn with other edits of the file (`path_locks`).
pub async fn edit(daemon: &Daemon, call: &FileCall<EditRequest>) -> Result<Edited, DaemonError> {
    let deadline = deadline_of(call);
    let host = call.conn.pool_key();
    let ctx = edit::Context {
        locks: &daemon.edit_turns,
        host: &host,
        probe: ExecProbe {
            daemon,
            conn: &call.conn,
            auth_sock: call.auth_sock.as_deref(),
            deadline,
        },
    };
    let fs = open_session(daemon, call, deadline).await?;
    let edited = edit::edit(fs.sftp(), &call.op, deadline, &ctx).await;
    close_later(daemon, fs);
    edited
}

/// When the call must be over (set by the door: see `FileCall::deadline`).
fn deadline_of<O>(call: &FileCall<O>) -> Option<Instant> {
    call.deadline.map(Instant::from_std)
}

/// An SFTP session on the call's connection, opened within the deadline.
async fn open_session<O: FileOp>(
    daemon: &Daemon,
    call: &FileCall<O>,
    deadline: Option<Instant>,
) -> Result<RemoteFs, DaemonError> {
    let open = RemoteFs::open(&daemon.masters, &call.conn, call.auth_sock.as_deref());
    match deadline {
        Some(at) => tokio::time::timeout_at(at, open)
            .await
            .map_err(|_| timed_out_before_writing(call.path()))?,
        None => open.await,
    }
}

/// The answer is ready: the session closes after it, in the background.
fn close_later(daemon: &Daemon, fs: RemoteFs) {
    daemon.shutdown.commands.spawn(async move {
        let _ = tokio::time::timeout(CLOSE_GRACE, fs.close()).await;
    });
}

/// The longest a look at a file's links and attributes may take without a call deadline.
const PROBE_LIMIT: Duration = Duration::from_secs(30);

/// [`Probe`] by `host_facts`' script, run through the exec path on the call's connection.
struct ExecProbe<'a> {
    daemon: &'a Daemon,
    conn: &'a Connection,
    auth_sock: Option<&'a Path>,
    deadline: Option<Instant>,
}

impl Probe for ExecProbe<'_> {
    async fn facts(&self, path: &Path) -> Result<FileFacts, String> {
        let left = self
            .deadline
            .map_or(PROBE_LIMIT, |d| d.saturating_duration_since(Instant::now()));
        let spec = exec::script_spec(
            self.conn.clone(),
            self.auth_sock.map(Path::to_path_buf),
            host_facts::script(path),
            Some(left.min(PROBE_LIMIT)),
            host_facts::MAX_OUTPUT,
        );
        let out = exec::run(
            self.daemon,
            &spec,
            &Counters::default(),
            &CancellationToken::new(),
        )
        .await
        .map_err(|e| e.to_string())?;
        match out.exit_code {
            _ if out.timed_out => Err("the look at the host timed out".into()),
            Some(0) => host_facts::parse(&out.stdout.bytes),
            code => Err(format!(
                "the look at the host ended with status {code:?}: {}",
                String::from_utf8_lossy(&out.stderr.bytes).trim()
            )),
        }
    }
}

/// Lists the call's directory with `find` on the host (`shell_listing`), within its deadline.
async fn list_by_shell(
    daemon: &Daemon,
    call: &FileCall<ViewRequest>,
    deadline: Option<Instant>,
) -> Result<Listing, DaemonError> {
    let path = call.path();
    let remaining = match deadline.map(|d| d.saturating_duration_since(Instant::now())) {
        Some(left) if left.is_zero() => return Err(messages::timed_out(path)),
        left => left,
    };
    let dir = remote_path::for_sftp(path).to_string_lossy().into_owned();
    let spec = exec::script_spec(
        call.conn.clone(),
        call.auth_sock.clone(),
        shell_listing::script(&dir),
        remaining,
        shell_listing::MAX_OUTPUT,
    );
    let out = exec::run(
        daemon,
        &spec,
        &Counters::default(),
        &CancellationToken::new(),
    )
    .await?;
    if out.timed_out {
        return Err(messages::timed_out(path));
    }
    match out.exit_code {
        // find says 1 when a subdirectory could not be read; what it could read is listed.
        Some(0 | 1) => Ok(shell_listing::parse(
            &out.stdout.bytes,
            path,
            out.stdout.truncated,
        )),
        Some(shell_listing::NOT_A_DIRECTORY) => {
            Err(messages::failed(path, "the directory cannot be entered"))
        }
        _ => Err(messages::failed(
            path,
            String::from_utf8_lossy(&out.stderr.bytes).trim(),
        )),
    }
}
