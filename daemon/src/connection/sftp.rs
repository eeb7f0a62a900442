//! [`RemoteFs`]: an SFTP session on one of the daemon's masters. The master opens the server's
//! `sftp` subsystem as a channel (a mux NEW_SESSION with the subsystem flag), whose stdin and
//! stdout are one end of a socket pair; `openssh-sftp-client` speaks SFTP over the other end.
//! Nothing runs in a remote shell, so paths need no quoting and the account's login shell does
//! not matter. The channel is borrowed from the pool like a command's and given back on drop.
//!
//! Files, search and transfers use it; the translation of SFTP failures into the seed's messages
//! is `files::sftp_errors`.

use std::path::Path;

use openssh_sftp_client::{Sftp, SftpOptions};
use ssh_mcp_core::ssh::connection::Connection;

use super::masters::Lease;
use super::mux_client::{self, OpenError};
use crate::error::DaemonError;
use crate::state::Daemon;

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
        daemon: &Daemon,
        conn: &Connection,
        auth_sock: Option<&Path>,
    ) -> Result<Self, DaemonError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let lease = daemon.masters.acquire(conn, auth_sock).await?;
            match mux_client::open_subsystem(&lease.control_path, "sftp").await {
                Ok((channel, socket)) => {
                    let (read, write) = socket.into_split();
                    // Requests go out at once: a tool call is a short chain of dependent
                    // requests, so batching them would only add latency.
                    let options = SftpOptions::new().flush_interval(std::time::Duration::ZERO);
                    let sftp = Sftp::new(write, read, options).await.map_err(|e| {
                        DaemonError::RemoteFile(format!(
                            "{} has no working SFTP server ({e}); the file tools need sshd's \
                             `Subsystem sftp` (on by default in OpenSSH)",
                            conn.target
                        ))
                    })?;
                    return Ok(Self {
                        sftp,
                        _channel: channel,
                        _lease: lease,
                    });
                }
                Err(e @ (OpenError::Refused(_) | OpenError::MasterGone(_)))
                    if attempt < MAX_OPEN_ATTEMPTS =>
                {
                    tracing::debug!(attempt, %e, "retrying the sftp channel on another one");
                    if matches!(e, OpenError::Refused(_)) {
                        lease.session_refused();
                    }
                    drop(lease);
                    tokio::time::sleep(std::time::Duration::from_millis(5 * u64::from(attempt)))
                        .await;
                }
                Err(e) => {
                    return Err(DaemonError::Connect {
                        target: conn.target.to_string(),
                        detail: format!("no SFTP channel could be opened ({e})"),
                        hint: "Check MaxSessions in the server's sshd_config",
                    });
                }
            }
        }
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
