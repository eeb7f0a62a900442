//! The OpenSSH multiplexing protocol (PROTOCOL.mux, version 4), as pure encoding and decoding:
//! what the daemon says to its own ControlMasters to open a session without starting an `ssh`
//! client process. Each message is `uint32 length`, `uint32 type`, then the body in SSH wire
//! format (big-endian integers; strings as length + bytes; booleans as uint32).
//!
//! Only the requests the daemon needs are here: HELLO, NEW_SESSION (a command or a subsystem),
//! and OPEN_FWD / CLOSE_FWD (port forwards kept by the master; [`forward`] validates the
//! agent's request for one). The command inside a NEW_SESSION comes from
//! [`crate::ssh::remote::scripts`], built from validated parts like every argv.

pub mod forward;

#[cfg(test)]
mod tests;

/// The protocol version both sides announce.
pub const MUX_VERSION: u32 = 4;

const MUX_MSG_HELLO: u32 = 0x0000_0001;
const MUX_C_NEW_SESSION: u32 = 0x1000_0002;
const MUX_C_OPEN_FWD: u32 = 0x1000_0006;
const MUX_C_CLOSE_FWD: u32 = 0x1000_0007;
const MUX_S_OK: u32 = 0x8000_0001;
const MUX_S_PERMISSION_DENIED: u32 = 0x8000_0002;
const MUX_S_FAILURE: u32 = 0x8000_0003;
const MUX_S_EXIT_MESSAGE: u32 = 0x8000_0004;
const MUX_S_ALIVE: u32 = 0x8000_0005;
const MUX_S_SESSION_OPENED: u32 = 0x8000_0006;
const MUX_S_TTY_ALLOC_FAIL: u32 = 0x8000_0008;
const MUX_S_REMOTE_PORT: u32 = 0x8000_0009;

/// What a forward listens for and where it connects, as the mux protocol carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardRequest {
    pub kind: ForwardKind,
    /// The address to listen on (on this machine for local and dynamic, on the host for remote).
    pub listen_host: String,
    pub listen_port: u16,
    /// Where connections go (empty for dynamic: the SOCKS client says).
    pub connect_host: String,
    pub connect_port: u16,
}

/// MUX_FWD_LOCAL, MUX_FWD_REMOTE, MUX_FWD_DYNAMIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardKind {
    Local = 1,
    Remote = 2,
    Dynamic = 3,
}

/// No escape character (0xffffffff disables it).
const NO_ESCAPE: u32 = u32::MAX;

/// The largest message the daemon accepts from a master; real replies are tiny.
pub const MAX_MESSAGE: usize = 256 * 1024;

/// A message from a master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Hello {
        version: u32,
    },
    Ok {
        request_id: u32,
    },
    PermissionDenied {
        request_id: u32,
        reason: String,
    },
    Failure {
        request_id: u32,
        reason: String,
    },
    ExitMessage {
        session_id: u32,
        exit_value: u32,
    },
    Alive {
        request_id: u32,
        pid: u32,
    },
    SessionOpened {
        request_id: u32,
        session_id: u32,
    },
    TtyAllocFail {
        session_id: u32,
    },
    /// A remote forward asked for port 0 and the server chose this one.
    RemotePort {
        request_id: u32,
        port: u32,
    },
    /// A message type this client does not know.
    Unknown {
        kind: u32,
    },
}

impl Reply {
    /// The request this reply answers, for the replies that carry one.
    pub fn request_id(&self) -> Option<u32> {
        match self {
            Self::Ok { request_id }
            | Self::PermissionDenied { request_id, .. }
            | Self::Failure { request_id, .. }
            | Self::Alive { request_id, .. }
            | Self::SessionOpened { request_id, .. }
            | Self::RemotePort { request_id, .. } => Some(*request_id),
            Self::Hello { .. }
            | Self::ExitMessage { .. }
            | Self::TtyAllocFail { .. }
            | Self::Unknown { .. } => None,
        }
    }
}

/// A malformed message from a master.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed message from the ControlMaster: {0}")]
pub struct MuxError(pub &'static str);

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    put_u32(out, s.len() as u32);
    out.extend_from_slice(s);
}

fn frame(body: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 4);
    put_u32(&mut out, body.len() as u32);
    out.extend_from_slice(&body);
    out
}

/// The client's HELLO.
pub fn hello() -> Vec<u8> {
    let mut body = Vec::new();
    put_u32(&mut body, MUX_MSG_HELLO);
    put_u32(&mut body, MUX_VERSION);
    frame(body)
}

/// A NEW_SESSION request for `command`, with a remote terminal of type `term` when `tty`.
/// The client must then pass its stdin, stdout and stderr descriptors, in that order.
pub fn new_session(request_id: u32, tty: bool, term: &str, command: &str) -> Vec<u8> {
    session_request(request_id, tty, false, term, command)
}

/// A NEW_SESSION request for the server's subsystem `name` (e.g. `sftp`): no terminal, no shell
/// on the remote side. The client then passes its descriptors as for [`new_session`].
pub fn new_subsystem(request_id: u32, name: &str) -> Vec<u8> {
    session_request(request_id, false, true, "", name)
}

fn session_request(
    request_id: u32,
    tty: bool,
    subsystem: bool,
    term: &str,
    command: &str,
) -> Vec<u8> {
    let mut body = Vec::new();
    put_u32(&mut body, MUX_C_NEW_SESSION);
    put_u32(&mut body, request_id);
    put_string(&mut body, b""); // reserved
    put_u32(&mut body, u32::from(tty));
    put_u32(&mut body, 0); // X11 forwarding: never
    put_u32(&mut body, 0); // agent forwarding: never
    put_u32(&mut body, u32::from(subsystem));
    put_u32(&mut body, NO_ESCAPE);
    put_string(&mut body, term.as_bytes());
    put_string(&mut body, command.as_bytes());
    frame(body)
}

/// An OPEN_FWD request: the master starts listening (or asks the server to) and keeps the
/// forward until a CLOSE_FWD with the same fields, or until it exits.
pub fn open_forward(request_id: u32, forward: &ForwardRequest) -> Vec<u8> {
    forward_message(MUX_C_OPEN_FWD, request_id, forward)
}

/// A CLOSE_FWD request for a forward opened with the same fields.
pub fn close_forward(request_id: u32, forward: &ForwardRequest) -> Vec<u8> {
    forward_message(MUX_C_CLOSE_FWD, request_id, forward)
}

fn forward_message(kind: u32, request_id: u32, f: &ForwardRequest) -> Vec<u8> {
    let mut body = Vec::new();
    put_u32(&mut body, kind);
    put_u32(&mut body, request_id);
    put_u32(&mut body, f.kind as u32);
    put_string(&mut body, f.listen_host.as_bytes());
    put_u32(&mut body, u32::from(f.listen_port));
    put_string(&mut body, f.connect_host.as_bytes());
    put_u32(&mut body, u32::from(f.connect_port));
    frame(body)
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u32(&mut self) -> Result<u32, MuxError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<4>()
            .ok_or(MuxError("truncated integer"))?;
        self.0 = rest;
        Ok(u32::from_be_bytes(*head))
    }

    fn string(&mut self) -> Result<String, MuxError> {
        let len = self.u32()? as usize;
        if len > self.0.len() {
            return Err(MuxError("truncated string"));
        }
        let (s, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(String::from_utf8_lossy(s).into_owned())
    }
}

/// The length announced by a message's first four bytes.
pub fn message_len(header: [u8; 4]) -> Result<usize, MuxError> {
    let len = u32::from_be_bytes(header) as usize;
    if !(4..=MAX_MESSAGE).contains(&len) {
        return Err(MuxError("message length out of range"));
    }
    Ok(len)
}

/// Decodes one message body (everything after the length).
pub fn decode(body: &[u8]) -> Result<Reply, MuxError> {
    let mut r = Reader(body);
    let kind = r.u32()?;
    Ok(match kind {
        MUX_MSG_HELLO => Reply::Hello { version: r.u32()? },
        MUX_S_OK => Reply::Ok {
            request_id: r.u32()?,
        },
        MUX_S_PERMISSION_DENIED => Reply::PermissionDenied {
            request_id: r.u32()?,
            reason: r.string()?,
        },
        MUX_S_FAILURE => Reply::Failure {
            request_id: r.u32()?,
            reason: r.string()?,
        },
        MUX_S_EXIT_MESSAGE => Reply::ExitMessage {
            session_id: r.u32()?,
            exit_value: r.u32()?,
        },
        MUX_S_ALIVE => Reply::Alive {
            request_id: r.u32()?,
            pid: r.u32()?,
        },
        MUX_S_SESSION_OPENED => Reply::SessionOpened {
            request_id: r.u32()?,
            session_id: r.u32()?,
        },
        MUX_S_TTY_ALLOC_FAIL => Reply::TtyAllocFail {
            session_id: r.u32()?,
        },
        MUX_S_REMOTE_PORT => Reply::RemotePort {
            request_id: r.u32()?,
            port: r.u32()?,
        },
        kind => Reply::Unknown { kind },
    })
}
