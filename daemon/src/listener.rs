//! The daemon's listening socket: taken from systemd (LISTEN_FDS) or bound here in a private
//! directory under a single-instance lock; the peer-UID check on every accepted connection; and
//! readiness notification (sd_notify, which is also how an autospawning shim learns we are up).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::{Path, PathBuf};

use anyhow::Context;
use ssh_mcp_core::paths;
use std::time::Duration;

use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio_stream::{Stream, wrappers::ReceiverStream};
use tokio_util::task::TaskTracker;

/// The outcome of [`acquire`].
pub enum Acquired {
    Listener(Bound),
    /// Another daemon holds the lock for this socket; this one should exit quietly.
    AlreadyRunning,
}

/// A listening socket, ready to serve.
pub struct Bound {
    listener: StdUnixListener,
    socket_path: PathBuf,
    activated: bool,
    /// Held open for the daemon's whole life; the lock is what makes it the only daemon.
    lock: Option<File>,
}

impl Bound {
    pub fn activated(&self) -> bool {
        self.activated
    }

    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    /// Binds a listener for tests and embedders that already hold the socket.
    pub fn from_listener(listener: StdUnixListener, socket_path: PathBuf) -> Self {
        Self {
            listener,
            socket_path,
            activated: false,
            lock: None,
        }
    }

    /// The stream of accepted connections, each checked against our uid. A connection from any
    /// other uid is dropped before a byte of HTTP/2 is read, whatever the file modes allowed.
    /// Accepting runs in a task on `tracker` that ends when the stream is dropped.
    pub fn into_incoming(
        self,
        tracker: &TaskTracker,
    ) -> io::Result<impl Stream<Item = io::Result<UnixStream>> + Send + 'static> {
        if let Some(lock) = self.lock {
            // The lock must outlive every request, so it lives as long as the process.
            std::mem::forget(lock);
        }
        self.listener.set_nonblocking(true)?;
        let listener = tokio::net::UnixListener::from_std(self.listener)?;
        let (tx, rx) = mpsc::channel(16);
        tracker.spawn(accept_loop(listener, tx));
        Ok(ReceiverStream::new(rx))
    }
}

/// How long accepting pauses after a failure that only time can fix (out of descriptors or
/// memory), doubling while it lasts.
const ACCEPT_PAUSE_MIN: Duration = Duration::from_millis(10);
const ACCEPT_PAUSE_MAX: Duration = Duration::from_secs(1);

/// Accepts connections until the receiving side is gone. Failures such as EMFILE do not spin:
/// the pending connection stays in the backlog while accepting pauses, and is taken once a
/// descriptor is free again.
async fn accept_loop(listener: tokio::net::UnixListener, tx: mpsc::Sender<io::Result<UnixStream>>) {
    let me = paths::current_uid();
    let mut pause = ACCEPT_PAUSE_MIN;
    let mut failures_in_a_row = 0u64;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = tx.closed() => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                if failures_in_a_row > 0 {
                    tracing::info!(failures_in_a_row, "accepting connections again");
                }
                failures_in_a_row = 0;
                pause = ACCEPT_PAUSE_MIN;
                stream
            }
            Err(e) if is_transient(&e) => continue,
            Err(e) => {
                // Logged once when it starts and then every 100th time, not at every retry.
                if failures_in_a_row.is_multiple_of(100) {
                    tracing::warn!(failures_in_a_row, "accept failed: {e}; pausing {pause:?}");
                }
                failures_in_a_row += 1;
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = tx.closed() => return,
                }
                pause = (pause * 2).min(ACCEPT_PAUSE_MAX);
                continue;
            }
        };
        match stream.peer_cred() {
            Ok(cred) if cred.uid() == me => {
                if tx.send(Ok(stream)).await.is_err() {
                    return;
                }
            }
            Ok(cred) => {
                tracing::warn!(peer_uid = cred.uid(), peer_pid = ?cred.pid(), "refused a connection from another user");
            }
            Err(e) => {
                tracing::warn!("refused a connection whose peer credentials are unknown: {e}");
            }
        }
    }
}

/// Failures of one connection (it was aborted before we took it), not of accepting itself.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECONNABORTED | libc::EINTR | libc::EAGAIN | libc::EPROTO | libc::EPERM)
    )
}

/// Takes the systemd socket when there is one, else binds `socket` under the daemon lock.
pub fn acquire(socket: &Path) -> anyhow::Result<Acquired> {
    let mut fds = listenfd::ListenFd::from_env();
    if let Some(listener) = fds
        .take_unix_listener(0)
        .context("reading the socket passed by systemd (LISTEN_FDS)")?
    {
        let socket_path = listener
            .local_addr()
            .ok()
            .and_then(|a| a.as_pathname().map(Path::to_path_buf))
            .unwrap_or_else(|| socket.to_path_buf());
        // systemd made the socket; the lock still keeps a second, autospawned daemon away.
        let lock = try_lock(&paths::daemon_lock_path(&socket_path))
            .ok()
            .flatten();
        return Ok(Acquired::Listener(Bound {
            listener,
            socket_path,
            activated: true,
            lock,
        }));
    }
    let dir = paths::runtime_dir(socket);
    paths::ensure_private_dir(&dir)?;
    let Some(lock) = try_lock(&paths::daemon_lock_path(socket))? else {
        return Ok(Acquired::AlreadyRunning);
    };
    // We hold the lock, so a socket file left here belongs to a daemon that died.
    if let Ok(meta) = fs::symlink_metadata(socket) {
        if meta.file_type().is_socket() {
            fs::remove_file(socket)
                .with_context(|| format!("removing stale socket {}", socket.display()))?;
            tracing::info!("removed a stale socket at {}", socket.display());
        } else {
            anyhow::bail!(
                "{} exists and is not a socket: remove it or set SSH_MCP_SOCKET",
                socket.display()
            );
        }
    }
    let listener =
        StdUnixListener::bind(socket).with_context(|| format!("binding {}", socket.display()))?;
    // The directory is already 0700; the socket's own mode is a second fence.
    fs::set_permissions(socket, fs::Permissions::from_mode(0o600))?;
    Ok(Acquired::Listener(Bound {
        listener,
        socket_path: socket.to_path_buf(),
        activated: false,
        lock: Some(lock),
    }))
}

fn try_lock(path: &Path) -> anyhow::Result<Option<File>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("opening lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

/// Tells systemd (or the shim that started us, through the same NOTIFY_SOCKET protocol) that the
/// socket accepts connections.
pub fn notify_ready() {
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::debug!("readiness notification failed: {e}");
    }
}

pub fn notify_stopping() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
}

/// Removes the socket this daemon bound (never one that systemd owns).
pub fn remove_socket(path: &Path) {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("could not remove {}: {e}", path.display()),
    }
}
