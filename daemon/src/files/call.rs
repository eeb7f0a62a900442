//! One file call on a host, from a validated [`FileCall`] to its answer: an SFTP session on a
//! pooled master ([`RemoteFs`]), the flow the call asks for, then the session closed (after the
//! answer). The timeout covers it all, the connection included.

use std::time::Duration;

use tokio::time::Instant;

use super::create::{self, Created};
use super::edit::{self, Edited};
use super::messages;
use super::remote_fs::RemoteFs;
use super::spec::{FileCall, Op};
use super::view::{self, Viewed};
use crate::error::DaemonError;
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
    let open = RemoteFs::open(daemon, &call.conn, call.auth_sock.as_deref());
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
            .map(Done::Viewed)
        }
        Op::Create {
            path,
            content,
            make_parents,
        } => create::create(sftp, path, content, *make_parents, deadline)
            .await
            .map(Done::Created),
        Op::Edit(req) => edit::edit(sftp, req, deadline).await.map(Done::Edited),
    };
    // The answer is ready: the session closes after it, in the background.
    daemon.shutdown.commands.spawn(async move {
        let _ = tokio::time::timeout(CLOSE_GRACE, fs.close()).await;
    });
    result
}
