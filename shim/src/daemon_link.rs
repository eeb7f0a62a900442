//! The shim's link to `ssh-mcpd`: a gRPC channel over the Unix socket, made after a version
//! handshake (Status), with autospawn when nobody answers, replacement of a daemon that speaks
//! another protocol, and a fresh handshake whenever the channel had to reconnect (the daemon
//! restarted between calls). When the daemon cannot be reached, the error says what to run.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use ssh_mcp_wire::pb::control_client::ControlClient;
use ssh_mcp_wire::pb::{StatusReply, StatusRequest, StopRequest};
use ssh_mcp_wire::{paths, protocol};
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::autospawn;

/// The HTTP/2 flow-control window for the daemon's replies (see `try_connect`).
const REPLY_WINDOW_BYTES: u32 = 8 << 20;

/// Why the daemon cannot be used. The text is shown to agents and people as is.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the ssh-mcp daemon is not reachable{at}: {reason}. {fix}")]
pub struct LinkError {
    at: String,
    reason: String,
    fix: String,
}

impl LinkError {
    fn new(socket: Option<&Path>, reason: impl Into<String>) -> Self {
        let state_log = paths::state_dir()
            .map(|d| paths::daemon_log_path(&d).display().to_string())
            .unwrap_or_default();
        Self {
            at: socket
                .map(|s| format!(" at {}", s.display()))
                .unwrap_or_default(),
            reason: reason.into(),
            fix: format!(
                "Start it with `ssh-mcpd` or `systemctl --user start ssh-mcpd.socket` (autostart is {}), \
                 check `ssh-mcp daemon status`, and see its log {state_log}",
                if autostart_enabled() {
                    "on"
                } else {
                    "off: SSH_MCP_NO_AUTOSTART is set"
                }
            ),
        }
    }
}

fn autostart_enabled() -> bool {
    !matches!(std::env::var("SSH_MCP_NO_AUTOSTART").as_deref(), Ok(v) if !v.is_empty() && v != "0")
}

struct Linked {
    channel: Channel,
    /// The value of `connects` when this channel's daemon was checked.
    checked_at: u64,
}

pub struct DaemonLink {
    socket: Result<PathBuf, String>,
    autostart: bool,
    linked: tokio::sync::Mutex<Option<Linked>>,
    /// Counts every connection the channel's connector makes (tonic reconnects on its own).
    connects: Arc<AtomicU64>,
}

impl DaemonLink {
    pub fn from_env() -> Self {
        Self {
            socket: paths::socket_path().map_err(|e| e.to_string()),
            autostart: autostart_enabled(),
            linked: tokio::sync::Mutex::new(None),
            connects: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn socket(&self) -> Result<&Path, LinkError> {
        self.socket
            .as_deref()
            .map_err(|e| LinkError::new(None, e.clone()))
    }

    /// A channel to a daemon of our protocol, connecting (and starting one) when needed.
    pub async fn channel(&self) -> Result<Channel, LinkError> {
        let mut linked = self.linked.lock().await;
        if let Some(l) = linked.as_ref()
            && l.checked_at == self.connects.load(Ordering::SeqCst)
        {
            return Ok(l.channel.clone());
        }
        let channel = self.connect_checked().await?;
        *linked = Some(Linked {
            channel: channel.clone(),
            checked_at: self.connects.load(Ordering::SeqCst),
        });
        Ok(channel)
    }

    /// Forgets the channel, so the next call connects and checks again.
    pub async fn reset(&self) {
        *self.linked.lock().await = None;
    }

    /// A channel to whatever daemon answers, without autospawn or protocol check (for `daemon
    /// status` and `daemon stop`).
    pub async fn connect_plain(&self) -> Result<(Channel, StatusReply), LinkError> {
        let socket = self.socket()?.to_path_buf();
        self.try_connect(&socket)
            .await
            .map_err(|e| LinkError::new(Some(&socket), e))
    }

    async fn connect_checked(&self) -> Result<Channel, LinkError> {
        let socket = self.socket()?.to_path_buf();
        match self.try_connect(&socket).await {
            Ok((channel, status)) if protocol::is_compatible(status.protocol) => {
                return Ok(channel);
            }
            Ok((channel, status)) => {
                if !self.autostart {
                    return Err(LinkError::new(
                        Some(&socket),
                        format!(
                            "it speaks protocol {} (version {}), this ssh-mcp speaks {}; run `ssh-mcp daemon stop` so the next call starts a matching one",
                            status.protocol,
                            status.version,
                            protocol::PROTOCOL_VERSION
                        ),
                    ));
                }
                tracing::warn!(
                    old = status.version,
                    old_protocol = status.protocol,
                    "replacing a daemon of another protocol"
                );
                stop_and_wait(channel, status.pid).await;
            }
            Err(reason) if !self.autostart => return Err(LinkError::new(Some(&socket), reason)),
            Err(reason) => tracing::info!("no daemon answers ({reason}); starting one"),
        }
        let spawn_socket = socket.clone();
        tokio::task::spawn_blocking(move || autospawn::ensure_running(&spawn_socket))
            .await
            .map_err(|e| LinkError::new(Some(&socket), e.to_string()))?
            .map_err(|e| LinkError::new(Some(&socket), e.to_string()))?;
        match self.try_connect(&socket).await {
            Ok((channel, status)) if protocol::is_compatible(status.protocol) => Ok(channel),
            Ok((_, status)) => Err(LinkError::new(
                Some(&socket),
                format!(
                    "it still speaks protocol {} after a restart (ssh-mcpd {} on PATH is older than this ssh-mcp)",
                    status.protocol, status.version
                ),
            )),
            Err(reason) => Err(LinkError::new(Some(&socket), reason)),
        }
    }

    async fn try_connect(&self, socket: &Path) -> Result<(Channel, StatusReply), String> {
        let path = socket.to_path_buf();
        let connects = self.connects.clone();
        let channel = Endpoint::from_static("http://ssh-mcpd.invalid")
            .connect_timeout(Duration::from_secs(3))
            // HTTP/2's default 64 KiB windows make a 1 MiB reply wait for 16 window updates;
            // replies are bounded by each client's decoding limit, so larger windows cost no memory
            // beyond the reply being read.
            .initial_stream_window_size(REPLY_WINDOW_BYTES)
            .initial_connection_window_size(REPLY_WINDOW_BYTES)
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                let connects = connects.clone();
                async move {
                    let stream = UnixStream::connect(&path).await?;
                    connects.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, io::Error>(TokioIo::new(stream))
                }
            }))
            .await
            .map_err(|e| describe_transport(&e))?;
        let status = tokio::time::timeout(
            Duration::from_secs(5),
            ControlClient::new(channel.clone()).status(StatusRequest {}),
        )
        .await
        .map_err(|_| "it accepted the connection but did not answer within 5 s".to_owned())?
        .map_err(|s| format!("it refused the handshake: {}", s.message()))?
        .into_inner();
        Ok((channel, status))
    }
}

/// The innermost cause of a transport error (tonic's own text is "transport error").
fn describe_transport(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Whether a failed call never reached the daemon, so that retrying it cannot run anything twice.
pub fn is_transport_failure(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::Unavailable && std::error::Error::source(status).is_some()
}

/// Whether a call the daemon had accepted failed because the connection broke (the daemon died):
/// statuses the daemon sends carry no source, those tonic makes from a transport error do.
pub fn is_broken_connection(status: &tonic::Status) -> bool {
    std::error::Error::source(status).is_some()
}

/// Asks a daemon to stop and waits until its process is gone (so its lock is free).
async fn stop_and_wait(channel: Channel, pid: u32) {
    let _ = ControlClient::new(channel).stop(StopRequest {}).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline && process_alive(pid) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether `pid` is a live process (a zombie waiting to be reaped counts as gone).
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name.
        Ok(stat) => {
            stat.rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next())
                != Some("Z")
        }
        // SAFETY: kill with signal 0 only checks that the process exists.
        Err(_) => unsafe { libc::kill(pid as libc::pid_t, 0) == 0 },
    }
}
