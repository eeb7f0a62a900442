//! How a session reaches its host ([`Link`]): a terminal channel on a master of the pool (the
//! usual way), or an ssh of its own on the session's terminal, for a host that wants an answer
//! first (a password, a key passphrase, a host key). That ssh is a ControlMaster too: once it is
//! in, the pool lends its connection to every call for the same connection, so `ssh_exec` to the
//! host works from then on without asking again.

use std::path::PathBuf;
use std::time::Duration;

use ssh_mcp_core::ssh::options::connection::Connection;

use std::os::fd::{AsFd, AsRawFd};

use super::limits::TermSize;
use super::spec::OpenSpec;
use crate::connection::killer::GroupKiller;
use crate::connection::masters::{Lease, LongLived, MasterPool};
use crate::connection::mux_client;
use crate::connection::retry::{ChannelOpener, Tried, nothing_ran, open_with_retries};
use crate::connection::spawn;
use crate::error::DaemonError;
use crate::state::Daemon;

/// The words in ssh's error that mean it needed an answer nobody could give in batch mode.
pub fn needs_terminal(ssh_error: &str) -> bool {
    let e = ssh_error.to_ascii_lowercase();
    [
        "permission denied",
        "host key verification failed",
        "passphrase",
        "no more authentication methods",
    ]
    .iter()
    .any(|w| e.contains(w))
}

pub enum Link {
    /// A terminal channel on a master of the pool, held by a lease.
    Channel {
        lease: Lease,
        channel: Option<mux_client::Session>,
    },
    /// The session's own ssh (`argv::master::terminal_master`) on its terminal.
    OwnSsh {
        child: tokio::process::Child,
        conn: Connection,
        pool: MasterPool,
        master_id: u64,
        control_path: PathBuf,
        /// Set once the ssh is in and its connection is lent to the pool.
        killer: Option<GroupKiller>,
    },
}

impl Link {
    /// The process that reads the session's terminal (it gets SIGWINCH on a resize).
    pub fn terminal_reader(&self) -> Option<u32> {
        match self {
            Self::Channel { lease, .. } => lease.master_pid,
            Self::OwnSsh { child, .. } => child.id(),
        }
    }

    /// Waits for the end of the session; its exit status when the host sent one. Cancel-safe.
    pub async fn wait_end(&mut self) -> Option<u32> {
        match self {
            Self::Channel {
                channel: Some(c), ..
            } => c.wait().await,
            // Let go of: nothing more will come.
            Self::Channel { channel: None, .. } => None,
            Self::OwnSsh { child, .. } => match child.wait().await {
                // ssh exits with the remote status, or 255 when the connection failed or broke.
                Ok(status) => status.code().filter(|c| *c != 255).map(|c| c as u32),
                Err(_) => None,
            },
        }
    }

    /// Ends process group `pgid` on the host (`now`: SIGKILL without the grace).
    pub async fn kill_group(&self, pgid: u32, now: bool) -> Option<i32> {
        let killer = match self {
            Self::Channel { lease, .. } => &lease.killer,
            Self::OwnSsh {
                killer: Some(k), ..
            } => k,
            Self::OwnSsh { killer: None, .. } => return None,
        };
        if now {
            killer.kill_now(pgid).await
        } else {
            killer.kill(pgid).await
        }
    }

    /// Lets go of the host: the channel closes (sshd hangs up the terminal) or the session's ssh
    /// gets SIGTERM.
    pub fn hang_up(&mut self) {
        match self {
            Self::Channel { channel, .. } => *channel = None,
            Self::OwnSsh { child, .. } => spawn::signal(child, libc::SIGTERM),
        }
    }

    /// For the session's own ssh: once its control socket is there, it is in; lend its
    /// connection to the pool. Returns true when it did so now.
    pub fn adopt_when_in(&mut self) -> bool {
        match self {
            Self::OwnSsh {
                child,
                conn,
                pool,
                master_id,
                control_path,
                killer: killer @ None,
            } if control_path.exists() => {
                *killer = Some(pool.adopt(conn, *master_id, control_path.clone(), child.id()));
                true
            }
            _ => false,
        }
    }

    pub fn awaiting_adoption(&self) -> bool {
        matches!(self, Self::OwnSsh { killer: None, .. })
    }

    /// Whether the connection the session used is still there (for how it ended).
    pub async fn connection_alive(&self) -> bool {
        let path = match self {
            Self::Channel { lease, .. } => &lease.control_path,
            Self::OwnSsh { .. } => return false,
        };
        tokio::net::UnixStream::connect(path).await.is_ok()
    }

    /// The session has ended: a lent connection goes back out of the pool.
    pub async fn release(&mut self) {
        if let Self::OwnSsh {
            child,
            conn,
            pool,
            master_id,
            control_path,
            ..
        } = self
        {
            pool.withdraw(conn, *master_id);
            if tokio::time::timeout(Duration::from_secs(2), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
            let _ = std::fs::remove_file(control_path);
        }
    }
}

/// How long a new session waits for a channel when every connection to its host is full.
const CHANNEL_PATIENCE: Duration = Duration::from_secs(60);
/// Attempts when sshd refuses the channel on a master counted as free.
const OPEN_ATTEMPTS: u32 = 20;

/// A session's way to its host, its terminal, and where its output arrives.
pub struct Connected {
    pub link: Link,
    /// The session's terminal: input is written here, and its size is the remote terminal's.
    pub pty: pty_process::Pty,
    /// The output of a channel on a pool master; `None` when it arrives on the terminal (a
    /// session's own ssh writes there).
    pub output: Option<tokio::net::UnixStream>,
}

/// Reaches the host for a new session: a terminal channel on a master of the pool, or, when the
/// pool cannot log in without an answer (a password, a passphrase, a host key), an ssh of the
/// session's own that asks on the session's terminal.
pub async fn connect(
    daemon: &Daemon,
    spec: &OpenSpec,
    command: &str,
) -> Result<Connected, DaemonError> {
    let mut opener = TerminalOpener {
        daemon,
        spec,
        command,
    };
    open_with_retries(OPEN_ATTEMPTS, &mut opener, |e| {
        DaemonError::Mux(e.to_string())
    })
    .await
}

/// Takes a session's lease and opens a terminal channel on it.
struct TerminalOpener<'a> {
    daemon: &'a Daemon,
    spec: &'a OpenSpec,
    command: &'a str,
}

impl ChannelOpener for TerminalOpener<'_> {
    type Opened = Connected;

    async fn try_once(&mut self) -> Result<Tried<Connected>, DaemonError> {
        let (daemon, spec, command) = (self.daemon, self.spec, self.command);
        let acquired = tokio::time::timeout(
            CHANNEL_PATIENCE,
            daemon.masters.acquire_long_lived(
                &spec.conn,
                spec.auth_sock.as_deref(),
                LongLived::Session,
            ),
        )
        .await
        .map_err(|_| {
            DaemonError::SessionConflict(format!(
                "every connection to '{}' stayed busy for {}s (sessions hold their channel for \
                 life): stop a session you no longer need, then try again",
                spec.target,
                CHANNEL_PATIENCE.as_secs()
            ))
        })?;
        let lease = match acquired {
            Ok(lease) => lease,
            Err(DaemonError::Connect { detail, .. }) if needs_terminal(&detail) => {
                tracing::info!(target = %spec.target, "the host wants an answer: asking on the session's terminal");
                return own_ssh(daemon, spec, command).map(Tried::Done);
            }
            Err(e) => return Err(e),
        };
        let (pty, pts) = new_terminal(spec.size)?;
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(|e| {
            DaemonError::Internal(format!("a socket for the session's output: {e}"))
        })?;
        let opened = mux_client::open_terminal(
            &lease.control_path,
            pts.as_raw_fd(),
            theirs.as_raw_fd(),
            command,
        )
        .await;
        // The master holds its own copy now; ours must close so that EOF can arrive.
        drop(theirs);
        // `pts` closes when this returns: the master holds its own copies of the terminal.
        match opened {
            Ok(channel) => {
                // The master read the modes it sends to sshd from the terminal; from now on
                // bytes pass through this side untouched, as a terminal emulator's would.
                make_raw(&pty);
                let output = ours
                    .set_nonblocking(true)
                    .and_then(|()| tokio::net::UnixStream::from_std(ours))
                    .map_err(|e| {
                        DaemonError::Internal(format!("the session's output socket: {e}"))
                    })?;
                let link = Link::Channel {
                    lease,
                    channel: Some(channel),
                };
                Ok(Tried::Done(Connected {
                    link,
                    pty,
                    output: Some(output),
                }))
            }
            Err(why) if nothing_ran(&why) => Ok(Tried::Refused { lease, why }),
            Err(e) => Err(DaemonError::Mux(e.to_string())),
        }
    }
}

/// `ssh -tt -M` on the session's terminal (`argv::master::terminal_master`): ssh prompts there,
/// and sets the terminal's modes itself, as it does in a person's terminal.
fn own_ssh(daemon: &Daemon, spec: &OpenSpec, command: &str) -> Result<Connected, DaemonError> {
    let settings = daemon.masters.settings()?;
    let (master_id, control_path) = daemon.masters.new_control_path(&spec.conn);
    let _ = std::fs::remove_file(&control_path);
    let argv = ssh_mcp_core::ssh::argv::master::terminal_master(
        &settings,
        &spec.conn,
        &control_path,
        command,
    );
    let (pty, pts) = new_terminal(spec.size)?;
    let child = spawn::on_terminal(&argv, pts.as_fd(), spec.auth_sock.as_deref())?;
    let link = Link::OwnSsh {
        child,
        conn: spec.conn.clone(),
        pool: daemon.masters.clone(),
        master_id,
        control_path,
        killer: None,
    };
    // ssh writes the session's output to its terminal, prompts included.
    Ok(Connected {
        link,
        pty,
        output: None,
    })
}

fn new_terminal(size: TermSize) -> Result<(pty_process::Pty, pty_process::Pts), DaemonError> {
    let (pty, pts) = pty_process::open()
        .map_err(|e| DaemonError::Internal(format!("opening a terminal: {e}")))?;
    pty.resize(pty_process::Size::new(size.rows, size.cols))
        .map_err(|e| DaemonError::Internal(format!("sizing the terminal: {e}")))?;
    Ok((pty, pts))
}

/// Puts the terminal in raw mode (no echo, no line editing, no output translation).
fn make_raw(pty: &pty_process::Pty) {
    let fd = pty.as_raw_fd();
    // SAFETY: tcgetattr/tcsetattr on a terminal we own, with a termios we initialised.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) == 0 {
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(fd, libc::TCSANOW, &t);
        }
    }
}
