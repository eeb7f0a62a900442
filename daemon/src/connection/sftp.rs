//! [`RemoteFs`]: an SFTP session on one of the daemon's masters. The master opens the server's
//! `sftp` subsystem as a channel (a mux NEW_SESSION with the subsystem flag), whose stdin and
//! stdout are one end of a socket pair; `openssh-sftp-client` speaks SFTP over the other end.
//! Nothing runs in a remote shell, so paths need no quoting and the account's login shell does
//! not matter. The channel is borrowed from the pool like a command's and given back on drop.
//!
//! Files, search and transfers use it; the translation of SFTP failures into the seed's messages
//! is `files::sftp_errors`.

use std::path::Path;

use openssh_sftp_client::fs::{DirEntry, Fs};
use openssh_sftp_client::{Sftp, SftpOptions};
use ssh_mcp_core::ssh::options::connection::Connection;
use tokio_stream::StreamExt;

use super::masters::{Lease, MasterPool};
use super::mux_client::{self, OpenError};
use super::retry::{ChannelOpener, Tried, nothing_ran, open_with_retries};
use crate::error::DaemonError;

/// How many channels to try when sshd refuses one (MaxSessions) before giving up.
const MAX_OPEN_ATTEMPTS: u32 = 5;

/// An open SFTP session on a pool master.
pub struct RemoteFs {
    sftp: Sftp,
    // Declared after `sftp`, so dropped after it: the channel and the lease outlive the session.
    _channel: mux_client::Session,
    _lease: Lease,
}

impl RemoteFs {
    /// Opens the `sftp` subsystem for `conn` on a pooled master (starting one if needed).
    pub async fn open(
        pool: &MasterPool,
        conn: &Connection,
        auth_sock: Option<&Path>,
    ) -> Result<Self, DaemonError> {
        let mut opener = SftpOpener {
            pool,
            conn,
            auth_sock,
        };
        open_with_retries(MAX_OPEN_ATTEMPTS, &mut opener, |e| no_channel(conn, e)).await
    }

    /// The SFTP session.
    pub fn sftp(&self) -> &Sftp {
        &self.sftp
    }

    /// Ends the session cleanly (pending requests answered, then the channel closed).
    pub async fn close(self) {
        if let Err(e) = self.sftp.close().await {
            tracing::debug!("closing an sftp session: {e}");
        }
    }
}

/// The entries of the remote directory `dir` as the server's readdir reports them (not following
/// links), each with its name, without `.` and `..`.
pub async fn dir_entries(
    fs: &mut Fs,
    dir: impl AsRef<Path>,
) -> Result<Vec<(String, DirEntry)>, openssh_sftp_client::Error> {
    let mut entries = Vec::new();
    let stream = fs.open_dir(dir).await?.read_dir();
    tokio::pin!(stream);
    while let Some(entry) = stream.next().await {
        let entry = entry?;
        let name = entry.filename().to_string_lossy().into_owned();
        if name != "." && name != ".." {
            entries.push((name, entry));
        }
    }
    Ok(entries)
}

/// Takes a lease and opens the `sftp` subsystem on it.
struct SftpOpener<'a> {
    pool: &'a MasterPool,
    conn: &'a Connection,
    auth_sock: Option<&'a Path>,
}

impl ChannelOpener for SftpOpener<'_> {
    type Opened = RemoteFs;

    async fn try_once(&mut self) -> Result<Tried<RemoteFs>, DaemonError> {
        let lease = self.pool.acquire(self.conn, self.auth_sock).await?;
        let (channel, socket) = match mux_client::open_subsystem(&lease.control_path, "sftp").await
        {
            Ok(opened) => opened,
            Err(why) if nothing_ran(&why) => return Ok(Tried::Refused { lease, why }),
            Err(e) => return Err(no_channel(self.conn, e)),
        };
        let (read, write) = socket.into_split();
        // Requests go out at once: a tool call is a short chain of dependent requests, so
        // batching them would only add latency.
        let options = SftpOptions::new().flush_interval(std::time::Duration::ZERO);
        let sftp = Sftp::new(write, read, options).await.map_err(|e| {
            DaemonError::RemoteFile(format!(
                "{} has no working SFTP server ({e}); the file tools need sshd's \
                 `Subsystem sftp` (on by default in OpenSSH)",
                self.conn.target
            ))
        })?;
        Ok(Tried::Done(RemoteFs {
            sftp,
            _channel: channel,
            _lease: lease,
        }))
    }
}

fn no_channel(conn: &Connection, e: OpenError) -> DaemonError {
    DaemonError::Connect {
        target: conn.target.to_string(),
        detail: format!("no SFTP channel could be opened ({e})"),
        hint: "Check MaxSessions in the server's sshd_config",
    }
}
