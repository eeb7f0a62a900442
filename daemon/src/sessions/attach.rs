//! A person's terminal on a session (`ssh-mcp attach` and `watch`): live output from a little
//! before the moment of attaching, keystrokes and resizes the other way (unless read-only),
//! until the person detaches, the session ends or the daemon stops.

use std::sync::Arc;
use std::time::Duration;

use super::limits::TermSize;
use super::output::{ReadFrom, ReadRequest};
use super::session::Session;
use crate::error::DaemonError;

/// Output shown on attaching, from before the attach: enough to see the prompt and what led to
/// it, little enough not to replay a flood.
const BACKLOG_BYTES: u64 = 16 * 1024;
const CHUNK_BYTES: usize = 64 * 1024;

/// What the person sends after the first message.
#[derive(Debug)]
pub enum FromPerson {
    Input(Vec<u8>),
    Resize { rows: u32, cols: u32 },
}

/// What the person gets.
#[derive(Debug)]
pub enum ToPerson {
    Output(Vec<u8>),
    Ended(String),
}

/// Runs one attachment. `inbound` yields the person's messages (`None` when they detach);
/// `outbound` returns false once the person is gone.
pub async fn run<In, Out, OutFut>(
    session: Arc<Session>,
    read_only: bool,
    mut inbound: In,
    mut outbound: Out,
    stop: impl std::future::Future<Output = ()>,
) where
    In: AsyncNext,
    Out: FnMut(ToPerson) -> OutFut,
    OutFut: std::future::Future<Output = bool>,
{
    tokio::pin!(stop);
    let end = session.output().end_offset();
    let mut pos = end
        .saturating_sub(BACKLOG_BYTES)
        .max(session.output().start_offset());
    loop {
        let read = session.output().read(ReadRequest {
            from: ReadFrom::Offset(pos),
            max_bytes: CHUNK_BYTES,
            json_chars: None,
            wait: Duration::from_secs(3600),
            settle: Duration::ZERO,
            new_after: None,
        });
        tokio::select! {
            chunk = read => {
                pos = chunk.to.max(pos);
                if !chunk.bytes.is_empty() && !outbound(ToPerson::Output(chunk.bytes)).await {
                    return;
                }
                if chunk.eof {
                    let reason = session.exit().map_or_else(|| "ended".to_owned(), |e| e.reason);
                    outbound(ToPerson::Ended(reason)).await;
                    return;
                }
            }
            message = inbound.next() => match message {
                None => return,
                Some(_) if read_only => {}
                Some(FromPerson::Input(bytes)) => {
                    if let Err(e) = session.write(&bytes).await {
                        tracing::debug!("attach: {e}");
                    }
                }
                Some(FromPerson::Resize { rows, cols }) => {
                    if let Err(e) = resize(&session, rows, cols).await {
                        tracing::debug!("attach: {e}");
                    }
                }
            },
            _ = &mut stop => return,
        }
    }
}

/// Resizes to the person's terminal, within the limits sessions accept.
pub async fn resize(session: &Session, rows: u32, cols: u32) -> Result<(), DaemonError> {
    let clamp = |v: u32, (lo, hi): (u16, u16)| v.clamp(u32::from(lo), u32::from(hi));
    let size = TermSize::parse(
        Some(clamp(rows, super::limits::ROWS_RANGE)),
        Some(clamp(cols, super::limits::COLS_RANGE)),
    )?;
    session.resize(size).await
}

/// The person's side of the stream, as the attachment reads it.
pub trait AsyncNext {
    fn next(&mut self) -> impl std::future::Future<Output = Option<FromPerson>> + Send;
}
