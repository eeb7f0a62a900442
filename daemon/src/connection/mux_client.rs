//! A passenger-mode session on one of the daemon's own ControlMasters, spoken directly over its
//! control socket (`ssh_mcp_core::ssh::mux` encodes the messages). Opening a channel this way
//! costs a few socket writes instead of starting an `ssh` client, which is what makes a call
//! through ssh-mcp cheaper than `ssh -S` from a shell.
//!
//! The master reads the command's output straight into pipes whose write ends we pass to it
//! (SCM_RIGHTS); the control connection then only carries the exit status.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use ssh_mcp_core::ssh::mux::{self, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::UnixStream;

use super::pipes::{OutputPipe, PendingPipe};

/// Why a session could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The master answered NEW_SESSION with a failure: the server refused the channel
    /// (MaxSessions reached, or it frees sessions late) or the master could not set it up.
    /// Nothing ran; another channel may work.
    #[error("the server refused a new session: {0}")]
    Refused(String),
    /// The master is not there (it died or is closing).
    #[error("the control master is not reachable: {0}")]
    MasterGone(io::Error),
    #[error("{0}")]
    Protocol(String),
}

/// An open session: its output pipes and the control connection that reports its end.
pub struct Session {
    control: Control,
    session_id: u32,
    /// Taken by the reader of the command's stdout.
    pub stdout: Option<OutputPipe>,
    /// Taken by the reader of the command's stderr.
    pub stderr: Option<OutputPipe>,
}

/// The control connection, with a buffer so that reading a reply is cancel-safe.
pub(crate) struct Control {
    stream: UnixStream,
    buf: Vec<u8>,
}

impl Control {
    /// Sends one encoded request.
    pub(crate) async fn send(&mut self, message: &[u8]) -> io::Result<()> {
        self.stream.write_all(message).await
    }

    /// The next reply, or `None` at end of stream. Cancel-safe: bytes read stay in `buf`.
    pub(crate) async fn next_reply(&mut self) -> io::Result<Option<Reply>> {
        loop {
            if let Some(header) = self.buf.first_chunk::<4>() {
                let len = mux::message_len(*header)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                if self.buf.len() >= 4 + len {
                    let reply = mux::decode(&self.buf[4..4 + len]);
                    self.buf.drain(..4 + len);
                    return reply
                        .map(Some)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e));
                }
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Ok(None);
            }
        }
    }
}

/// Sends one descriptor with a one-byte message, as ssh's mm_send_fd does.
fn send_fd(socket: RawFd, fd: RawFd) -> io::Result<()> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // u64 elements keep the control buffer aligned for cmsghdr.
    let mut control = [0u64; 4];
    // SAFETY: the msghdr points at live buffers of the sizes given; CMSG_* only compute offsets
    // inside `control`, which is large enough for one descriptor (CMSG_SPACE(4) <= 32 bytes).
    unsafe {
        let space = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as usize;
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() {
            return Err(io::Error::other("no room for a control message"));
        }
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
        if libc::sendmsg(socket, &msg, libc::MSG_NOSIGNAL) != 1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

async fn pass_fd(control: &UnixStream, fd: RawFd) -> io::Result<()> {
    loop {
        control.writable().await?;
        match control.try_io(Interest::WRITABLE, || send_fd(control.as_raw_fd(), fd)) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            other => return other,
        }
    }
}

fn protocol(e: io::Error) -> OpenError {
    OpenError::Protocol(format!("talking to the control master: {e}"))
}

/// Request ids are unique within the daemon, so a reply to someone else's request shows.
static NEXT_REQUEST_ID: AtomicU32 = AtomicU32::new(1);

/// Opens a session running `command` on the master at `control_path`, with `/dev/null` as its
/// stdin and the output in two pipes.
pub async fn open(control_path: &Path, tty: bool, command: &str) -> Result<Session, OpenError> {
    // Every descriptor exists before NEW_SESSION goes out: from then on the master blocks in its
    // descriptor receive, and every other channel on it waits with it.
    let stdin = std::fs::File::open("/dev/null").map_err(protocol)?;
    let stdout = PendingPipe::new(true).map_err(protocol)?;
    let stderr = PendingPipe::new(false).map_err(protocol)?;
    let fds = [
        stdin.as_raw_fd(),
        stdout.write.as_raw_fd(),
        stderr.write.as_raw_fd(),
    ];
    let (control, session_id) = start(control_path, Request::Command { tty, command }, fds).await?;
    // The master holds its own copies now; ours must close so that EOF can arrive.
    drop(stdin);
    Ok(Session {
        control,
        session_id,
        stdout: Some(stdout.into_reader().map_err(protocol)?),
        stderr: Some(stderr.into_reader().map_err(protocol)?),
    })
}

/// Opens a terminal session running `command` (the login shell when empty) on the master at
/// `control_path`. Its input is the terminal `pts`: the master reads the window size and modes
/// from there (at the open, and again at each SIGWINCH). Its output goes to `output` (a socket),
/// not back through the terminal: a terminal's line discipline hands over at most 4 KiB per
/// read, which would cap a flood of output at a fraction of what the link carries.
pub async fn open_terminal(
    control_path: &Path,
    pts: RawFd,
    output: RawFd,
    command: &str,
) -> Result<Session, OpenError> {
    let (control, session_id) = start(
        control_path,
        Request::Command { tty: true, command },
        [pts, output, output],
    )
    .await?;
    Ok(Session {
        control,
        session_id,
        stdout: None,
        stderr: None,
    })
}

/// Opens the server's subsystem `name` (e.g. `sftp`) on the master at `control_path`. The
/// subsystem reads and writes the returned socket (its stdin and stdout are the other end);
/// its stderr goes to `/dev/null`. Closing the socket ends the subsystem's channel.
pub async fn open_subsystem(
    control_path: &Path,
    name: &str,
) -> Result<(Session, UnixStream), OpenError> {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(protocol)?;
    let stderr = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .map_err(protocol)?;
    let fds = [theirs.as_raw_fd(), theirs.as_raw_fd(), stderr.as_raw_fd()];
    let (control, session_id) = start(control_path, Request::Subsystem(name), fds).await?;
    // The master holds its own copies now; ours must close so that EOF can arrive.
    drop(theirs);
    drop(stderr);
    ours.set_nonblocking(true).map_err(protocol)?;
    let ours = UnixStream::from_std(ours).map_err(protocol)?;
    Ok((
        Session {
            control,
            session_id,
            stdout: None,
            stderr: None,
        },
        ours,
    ))
}

/// A new control connection to the master at `control_path`, past the HELLO exchange.
pub(crate) async fn greet(control_path: &Path) -> Result<Control, OpenError> {
    let stream = UnixStream::connect(control_path)
        .await
        .map_err(OpenError::MasterGone)?;
    let mut control = Control {
        stream,
        buf: Vec::with_capacity(64),
    };
    control
        .stream
        .write_all(&mux::hello())
        .await
        .map_err(OpenError::MasterGone)?;
    match control.next_reply().await.map_err(protocol)? {
        Some(Reply::Hello { version }) if version == mux::MUX_VERSION => Ok(control),
        Some(other) => Err(OpenError::Protocol(format!(
            "unexpected greeting from the control master: {other:?}"
        ))),
        None => Err(OpenError::MasterGone(io::ErrorKind::UnexpectedEof.into())),
    }
}

/// A request id no other request of this daemon uses.
pub(crate) fn next_request_id() -> u32 {
    NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed)
}

/// What a NEW_SESSION asks for.
#[derive(Clone, Copy)]
enum Request<'a> {
    Command { tty: bool, command: &'a str },
    Subsystem(&'a str),
}

/// HELLO, NEW_SESSION with the three descriptors right after it, and the master's answer.
async fn start(
    control_path: &Path,
    request: Request<'_>,
    fds: [RawFd; 3],
) -> Result<(Control, u32), OpenError> {
    let mut control = greet(control_path).await?;
    let request_id = next_request_id();
    let message = match request {
        Request::Command { tty, command } => {
            let term = if tty { "xterm-256color" } else { "" };
            mux::new_session(request_id, tty, term, command)
        }
        Request::Subsystem(name) => mux::new_subsystem(request_id, name),
    };
    control.stream.write_all(&message).await.map_err(protocol)?;
    for fd in fds {
        pass_fd(&control.stream, fd).await.map_err(protocol)?;
    }
    loop {
        let reply = match control.next_reply().await.map_err(protocol)? {
            Some(reply) => reply,
            None => return Err(OpenError::MasterGone(io::ErrorKind::UnexpectedEof.into())),
        };
        if let Some(id) = reply.request_id()
            && id != request_id
        {
            return Err(OpenError::Protocol(format!(
                "the control master answered request {id} while {request_id} was asked: {reply:?}"
            )));
        }
        match reply {
            Reply::SessionOpened { session_id, .. } => return Ok((control, session_id)),
            // The master's answer when the session could not be opened: the server refused the
            // channel (MaxSessions) or the master could not set it up. Either way nothing ran.
            Reply::Failure { reason, .. } => return Err(OpenError::Refused(reason)),
            Reply::PermissionDenied { reason, .. } => {
                return Err(OpenError::Protocol(format!(
                    "the control master denied the session: {reason}"
                )));
            }
            Reply::Unknown { .. } | Reply::Ok { .. } | Reply::Alive { .. } => {}
            other => {
                return Err(OpenError::Protocol(format!(
                    "unexpected reply from the control master: {other:?}"
                )));
            }
        }
    }
}

impl Session {
    /// Waits for the session to end. `Some(status)` is the remote exit status; `None` means the
    /// channel closed without one (the command died of a signal, or the connection was lost).
    /// Cancel-safe: dropping the future loses nothing the next call needs.
    pub async fn wait(&mut self) -> Option<u32> {
        loop {
            match self.control.next_reply().await {
                Ok(Some(Reply::ExitMessage {
                    session_id,
                    exit_value,
                })) if session_id == self.session_id => {
                    return Some(exit_value);
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return None,
            }
        }
    }
}
