//! The floor under `ssh_exec`: one session opened by the bench itself on the daemon's own
//! ControlMaster, over OpenSSH's multiplexing protocol (`ssh_mcp_core::ssh::mux` encodes it),
//! running the remote command the daemon sends (pid report, then the command), with `/dev/null`
//! and two pipes passed by SCM_RIGHTS, timed until the exit status and both pipes' EOF. No MCP,
//! no gRPC, no daemon in between: what is left over when the shim is timed against this is our
//! own cost. A small blocking client: the bench times one session at a time.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use ssh_mcp_core::ssh::mux::{self, Reply};
use ssh_mcp_core::ssh::remote::scripts;

/// The nonce of the floor's pid report (the daemon draws a random one per call; the length is
/// what matters for the cost).
const NONCE: &str = "0123456789abcdef";
/// A session that takes longer than this is a hung master, not a slow one.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Sessions on one of the daemon's masters.
pub struct Floor {
    control_path: PathBuf,
    command: String,
    /// How many control sockets the daemon had when the floor picked one.
    pub sockets_seen: usize,
}

impl Floor {
    /// Finds the daemon's master by listing `control_dir` (and its subdirectories) for a socket:
    /// how the daemon names them is its own business. Call it when the daemon has only the
    /// masters of one target.
    pub fn on_daemon_master(control_dir: &Path, command: &str) -> anyhow::Result<Self> {
        let mut sockets = Vec::new();
        find_sockets(control_dir, 2, &mut sockets).with_context(|| {
            format!("listing the daemon's control dir {}", control_dir.display())
        })?;
        sockets.sort();
        let sockets_seen = sockets.len();
        let control_path = sockets.into_iter().next().with_context(|| {
            format!(
                "no ControlMaster socket in {} although the daemon ran a command",
                control_dir.display()
            )
        })?;
        Ok(Self {
            control_path,
            command: scripts::wrap_command(command, None, None, &[]).with_pid_report(NONCE),
            sockets_seen,
        })
    }

    /// The file name of the control socket in use.
    pub fn socket_name(&self) -> String {
        self.control_path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    }

    /// One session from connect to exit status and EOF on both pipes; fails unless the command
    /// exits 0 and its pid report arrives on stderr.
    pub fn run_timed(&self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let (status, stderr) = self.session()?;
        let took = started.elapsed();
        ensure!(
            status == 0,
            "the floor session exited {status}: {}",
            String::from_utf8_lossy(&stderr)
        );
        ensure!(
            stderr.starts_with(scripts::PID_REPORT_PREFIX),
            "the floor session's stderr lacks the pid report: {:?}",
            String::from_utf8_lossy(&stderr)
        );
        Ok(took)
    }

    /// Opens the session, waits for its exit status and reads both pipes to EOF. Returns the
    /// status and stderr (stdout is read and dropped).
    fn session(&self) -> anyhow::Result<(u32, Vec<u8>)> {
        let mut control = UnixStream::connect(&self.control_path).with_context(|| {
            format!(
                "connecting to the master at {}",
                self.control_path.display()
            )
        })?;
        control.set_read_timeout(Some(IO_TIMEOUT))?;
        control.write_all(&mux::hello())?;
        match next_reply(&mut control)? {
            Reply::Hello { version } if version == mux::MUX_VERSION => {}
            other => bail!("unexpected greeting from the master: {other:?}"),
        }
        control.write_all(&mux::new_session(1, false, "", &self.command))?;
        let stdin = std::fs::File::open("/dev/null")?;
        let (mut out_read, out_write) = std::io::pipe()?;
        let (mut err_read, err_write) = std::io::pipe()?;
        for fd in [
            stdin.as_raw_fd(),
            out_write.as_raw_fd(),
            err_write.as_raw_fd(),
        ] {
            send_fd(control.as_raw_fd(), fd)?;
        }
        // The master holds its own copies; ours must close so that EOF can arrive.
        drop((stdin, out_write, err_write));
        let session_id = loop {
            match next_reply(&mut control)? {
                Reply::SessionOpened { session_id, .. } => break session_id,
                Reply::Failure { reason, .. } | Reply::PermissionDenied { reason, .. } => {
                    bail!("the master refused the floor session: {reason}")
                }
                Reply::ExitMessage { .. }
                | Reply::Hello { .. }
                | Reply::TtyAllocFail { .. }
                | Reply::RemotePort { .. } => {
                    bail!("unexpected reply while opening the floor session")
                }
                Reply::Ok { .. } | Reply::Alive { .. } | Reply::Unknown { .. } => {}
            }
        };
        let status = loop {
            if let Reply::ExitMessage {
                session_id: s,
                exit_value,
            } = next_reply(&mut control)?
                && s == session_id
            {
                break exit_value;
            }
        };
        // The outputs are a few bytes: each fits in the pipe, so reading one then the other
        // cannot block the master.
        let mut sink = Vec::new();
        out_read.read_to_end(&mut sink)?;
        let mut stderr = Vec::new();
        err_read.read_to_end(&mut stderr)?;
        Ok((status, stderr))
    }
}

/// Appends the sockets in `dir` to `out`, looking `depth` levels deep.
fn find_sockets(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_socket() {
            out.push(entry.path());
        } else if kind.is_dir() && depth > 1 {
            find_sockets(&entry.path(), depth - 1, out)?;
        }
    }
    Ok(())
}

/// The next message from the master.
fn next_reply(control: &mut UnixStream) -> anyhow::Result<Reply> {
    let mut header = [0u8; 4];
    control
        .read_exact(&mut header)
        .context("reading from the master")?;
    let mut body = vec![0u8; mux::message_len(header)?];
    control
        .read_exact(&mut body)
        .context("reading from the master")?;
    Ok(mux::decode(&body)?)
}

/// Sends one descriptor with a one-byte message, as ssh's mm_send_fd does.
fn send_fd(socket: RawFd, fd: RawFd) -> anyhow::Result<()> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // u64 elements keep the control buffer aligned for cmsghdr.
    let mut cbuf = [0u64; 4];
    // SAFETY: the msghdr points at live buffers of the sizes given; CMSG_* compute offsets inside
    // `cbuf`, which holds one descriptor's control message (CMSG_SPACE(4) <= 32 bytes).
    let sent = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as usize;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        ensure!(!cmsg.is_null(), "no room for a control message");
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
        libc::sendmsg(socket, &msg, libc::MSG_NOSIGNAL)
    };
    ensure!(
        sent == 1,
        "passing a descriptor to the master: {}",
        std::io::Error::last_os_error()
    );
    Ok(())
}
