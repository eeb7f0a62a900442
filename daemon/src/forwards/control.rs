//! [`ForwardControl`]: one forward on a master, held through the control connection that opened
//! it. The master listens (or has the server listen) and carries each connection as a channel of
//! its own; the control connection stays open for the forward's life, so that its end of stream
//! says at once that the master, and with it the forward, is gone. Closing sends CLOSE_FWD with
//! the fields the forward was opened with.

use std::io;
use std::path::Path;

use ssh_mcp_core::ssh::mux::{self, ForwardRequest, Reply};

use crate::connection::mux_client::{self, Control, OpenError};

/// Why the master did not open a forward.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The master (or the server, for a remote forward) refused: the port cannot be bound or the
    /// server does not allow forwarding.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Master(#[from] OpenError),
}

/// An open forward and the control connection that keeps watch over it.
pub struct ForwardControl {
    control: Control,
    request: ForwardRequest,
}

impl ForwardControl {
    /// Asks the master at `control_path` to open `request`. Returns the forward and, for a
    /// remote forward on port 0, the port the server chose.
    pub async fn open(
        control_path: &Path,
        request: ForwardRequest,
    ) -> Result<(Self, Option<u32>), ForwardError> {
        let mut control = mux_client::greet(control_path).await?;
        let id = mux_client::next_request_id();
        control
            .send(&mux::open_forward(id, &request))
            .await
            .map_err(OpenError::MasterGone)?;
        let allocated = answer(&mut control, id).await?;
        Ok((Self { control, request }, allocated))
    }

    /// Resolves when the master closes the control connection: it exited (the connection to the
    /// host was lost, or the master was ended). Cancel-safe.
    pub async fn ended(&mut self) {
        loop {
            match self.control.next_reply().await {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return,
            }
        }
    }

    /// Closes the forward on the master: the listener goes away; connections already carried
    /// end with the master's channels for them.
    pub async fn close(mut self) -> Result<(), ForwardError> {
        let id = mux_client::next_request_id();
        self.control
            .send(&mux::close_forward(id, &self.request))
            .await
            .map_err(OpenError::MasterGone)?;
        answer(&mut self.control, id).await.map(|_| ())
    }
}

/// Waits for the master's answer to request `id`.
async fn answer(control: &mut Control, id: u32) -> Result<Option<u32>, ForwardError> {
    loop {
        let reply = control
            .next_reply()
            .await
            .map_err(|e| OpenError::Protocol(format!("talking to the control master: {e}")))?
            .ok_or_else(|| OpenError::MasterGone(io::ErrorKind::UnexpectedEof.into()))?;
        if let Some(got) = reply.request_id()
            && got != id
        {
            return Err(OpenError::Protocol(format!(
                "the control master answered request {got} while {id} was asked: {reply:?}"
            ))
            .into());
        }
        match reply {
            Reply::Ok { .. } => return Ok(None),
            Reply::RemotePort { port, .. } => return Ok(Some(port)),
            Reply::Failure { reason, .. } | Reply::PermissionDenied { reason, .. } => {
                return Err(ForwardError::Refused(reason));
            }
            Reply::Alive { .. } | Reply::Unknown { .. } => {}
            other => {
                return Err(OpenError::Protocol(format!(
                    "unexpected reply from the control master: {other:?}"
                ))
                .into());
            }
        }
    }
}
