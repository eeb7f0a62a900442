//! One file call on a host, from a validated [`FileCall`] to its answer: an SFTP session on a
//! pooled master ([`RemoteFs`]), the flow the call asks for, then the session closed (after the
//! answer). The timeout covers it all, the connection included. A directory SFTP cannot list is
//! listed by `find` on the host (`shell_listing`), and what an edit must know that SFTP cannot
//! say (hard links, ACL, extended attributes) is asked by a script through the exec path
//! ([`ExecProbe`]).

use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use tokio_util::sync::CancellationToken;

use super::create::{self, Created};
use super::edit::{self, Edited};
use super::host_facts::{self, FileFacts, Probe};
use super::listing::Listing;
use super::spec::{FileCall, Op};
use super::view::{self, Viewed};
use super::{messages, remote_path, shell_listing};
use crate::connection::sftp::RemoteFs;
use crate::error::DaemonError;
use crate::exec::{self, Counters};
use crate::state::Daemon;

/// How long closing the SFTP session may take before it is simply dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub enum Done {
    Viewed(Viewed),
    Created(Created),
    Edited(Edited),
}

fn timed_out_before_writing(path: &str) -> DaemonError {
    DaemonError::RemoteFile(format!(
        "{} Nothing was written.",
        messages::timed_out(path)
    ))
}

pub async fn run(daemon: &Daemon, call: &FileCall) -> Result<Done, DaemonError> {
    let path = call.path();
    let deadline = call.timeout.map(|t| Instant::now() + t);
    let open = RemoteFs::open(&daemon.masters, &call.conn, call.auth_sock.as_deref());
    let fs = match deadline {
        Some(at) => tokio::time::timeout_at(at, open)
            .await
            .map_err(|_| timed_out_before_writing(path))??,
        None => open.await?,
    };
    let sftp = fs.sftp();
    let result = match &call.op {
        Op::View(req) => {
            let work = view::view(sftp, req);
            match deadline {
                Some(at) => tokio::time::timeout_at(at, work)
                    .await
                    .unwrap_or_else(|_| Err(messages::timed_out(path))),
                None => work.await,
            }
        }
        .map(Done::Viewed),
        Op::Create {
            path,
            content,
            make_parents,
        } => create::create(sftp, path, content, *make_parents, deadline)
            .await
            .map(Done::Created),
        Op::Edit(req) => {
            let host = call.conn.pool_key();
            let ctx = edit::Context {
                locks: &daemon.edit_turns,
                host: &host,
                probe: ExecProbe {
                    daemon,
                    call,
                    deadline,
                },
            };
            edit::edit(sftp, req, deadline, &ctx)
                .await
                .map(Done::Edited)
        }
    };
    // The answer is ready: the session closes after it, in the background.
    daemon.shutdown.commands.spawn(async move {
        let _ = tokio::time::timeout(CLOSE_GRACE, fs.close()).await;
    });
    match result {
        Ok(Done::Viewed(Viewed::NeedsShellListing)) => list_by_shell(daemon, call, deadline)
            .await
            .map(|l| Done::Viewed(Viewed::Directory(l))),
        other => other,
    }
}

/// The longest a look at a file's links and attributes may take without a call deadline.
const PROBE_LIMIT: Duration = Duration::from_secs(30);

/// [`Probe`] by `host_facts`' script, run through the exec path on the call's connection.
struct ExecProbe<'a> {
    daemon: &'a Daemon,
    call: &'a FileCall,
    deadline: Option<Instant>,
}

impl Probe for ExecProbe<'_> {
    async fn facts(&self, path: &Path) -> Result<FileFacts, String> {
        let left = self
            .deadline
            .map_or(PROBE_LIMIT, |d| d.saturating_duration_since(Instant::now()));
        let spec = exec::script_spec(
            self.call.conn.clone(),
            self.call.auth_sock.clone(),
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
    call: &FileCall,
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
