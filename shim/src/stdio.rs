//! The MCP transport on stdin/stdout: one JSON-RPC message per line. Valid messages are rmcp's
//! (its message types decode them; what the server sends is written as its codec writes it,
//! tool results by way of `json_text`, see [`encode_line`]); this file adds the
//! answers JSON-RPC 2.0 requires for lines rmcp cannot read, which it would drop or answer
//! without an id, leaving a client waiting: a Parse error (-32700, id null) for a line that is not
//! JSON, an Invalid Request (-32600, with the id when one can be read) for JSON that is not a
//! request, notification or response, and one answer per element for a batch (MCP has none).
//! Notifications are never answered, as JSON-RPC requires. A line longer than the limit is
//! dropped as it passes, and answered once it ends, with its id when it has one
//! ([`oversized`]), so a client that sent too much gets an error instead of waiting for ever.
//! This file reads lines and writes answers; `answers.rs` decides what each line gets.

mod answers;
mod oversized;

use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::{ContentBlock, JsonRpcMessage, ServerResult};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::async_rw::DEFAULT_MAX_LINE_LENGTH;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

use answers::{Incoming, classify, too_long_answer};
use oversized::OversizedLine;

use crate::json_text;

type Writer<W> = Arc<Mutex<Option<W>>>;

/// The shim's stdio transport, generic over the streams so tests can drive it in memory.
pub struct StdioTransport<R, W> {
    read: BufReader<R>,
    /// The line being read; it survives a cancelled `receive` (rmcp polls it in a `select!`).
    line: Vec<u8>,
    /// A line that was too long, being dropped (and its id looked for) until it ends.
    oversized: Option<OversizedLine>,
    write: Writer<W>,
    /// Our answers to unreadable lines, written by their own tasks as rmcp writes its responses,
    /// so that a cancelled `receive` never leaves half a line on stdout.
    answers: JoinSet<()>,
}

enum LineRead {
    Line,
    TooLong(OversizedLine),
    Eof,
}

impl<R, W> StdioTransport<R, W>
where
    R: AsyncRead + Send + Unpin,
    W: AsyncWrite + Send + Unpin + 'static,
{
    pub fn new(read: R, write: W) -> Self {
        Self {
            read: BufReader::new(read),
            line: Vec::new(),
            oversized: None,
            write: Arc::new(Mutex::new(Some(write))),
            answers: JoinSet::new(),
        }
    }

    /// Reads one line into `self.line`, never holding more than the line limit: the rest of a
    /// longer line goes through an [`OversizedLine`] and is dropped. Cancel-safe: bytes are
    /// moved from the reader's buffer into `self` with no await in between.
    async fn read_line(&mut self) -> std::io::Result<LineRead> {
        loop {
            let available = self.read.fill_buf().await?;
            if available.is_empty() {
                return Ok(match self.oversized.take() {
                    Some(line) => LineRead::TooLong(line),
                    None => LineRead::Eof,
                });
            }
            let newline = available.iter().position(|b| *b == b'\n');
            let take = newline.map_or(available.len(), |i| i + 1);
            let part = &available[..newline.unwrap_or(take)];
            if self.oversized.is_none() && self.line.len() + take > DEFAULT_MAX_LINE_LENGTH {
                let mut line = OversizedLine::default();
                line.feed(&self.line);
                self.line.clear();
                self.oversized = Some(line);
            }
            match self.oversized.as_mut() {
                Some(line) => line.feed(part),
                None => self.line.extend_from_slice(&available[..take]),
            }
            self.read.consume(take);
            if newline.is_some() {
                return Ok(match self.oversized.take() {
                    Some(line) => LineRead::TooLong(line),
                    None => LineRead::Line,
                });
            }
        }
    }

    fn answer(&mut self, bytes: Vec<u8>) {
        while self.answers.try_join_next().is_some() {}
        let write = self.write.clone();
        self.answers.spawn(async move {
            if let Err(e) = write_line(&write, &bytes).await {
                tracing::warn!("could not answer an unreadable message: {e}");
            }
        });
    }
}

async fn write_line<W: AsyncWrite + Unpin>(write: &Writer<W>, bytes: &[u8]) -> std::io::Result<()> {
    let mut guard = write.lock().await;
    let Some(w) = guard.as_mut() else {
        return Err(std::io::ErrorKind::NotConnected.into());
    };
    w.write_all(bytes).await?;
    w.flush().await
}

/// One message as a line, as rmcp's codec writes it. A tool result goes by way of
/// [`json_text`] (a page of output is megabytes, and it is in the result twice: structured, and
/// as JSON text): its texts and structured content are moved into the JSON value rather than
/// copied, and its keys come in JSON value order (sorted) rather than rmcp's field order.
fn encode_line(mut item: TxJsonRpcMessage<RoleServer>) -> std::io::Result<Vec<u8>> {
    let JsonRpcMessage::Response(response) = &mut item else {
        return plain_line(&item);
    };
    let ServerResult::CallToolResult(result) = &mut response.result else {
        return plain_line(&item);
    };
    let structured = result.structured_content.take();
    let texts: Vec<String> = result
        .content
        .iter_mut()
        .map(|block| match block {
            ContentBlock::Text(t) => std::mem::take(&mut t.text),
            _ => String::new(),
        })
        .collect();
    let mut value = serde_json::to_value(&item).map_err(std::io::Error::other)?;
    if let Some(result) = value.get_mut("result") {
        if let Some(structured) = structured {
            result["structuredContent"] = structured;
        }
        if let Some(Value::Array(blocks)) = result.get_mut("content") {
            for (block, text) in blocks.iter_mut().zip(texts) {
                if block.get("type").and_then(Value::as_str) == Some("text") {
                    block["text"] = Value::String(text);
                }
            }
        }
    }
    let mut line = json_text::to_vec(&value);
    line.push(b'\n');
    crate::heap::sent(line.len());
    Ok(line)
}

/// Any other message, exactly as rmcp's codec writes it.
fn plain_line(item: &TxJsonRpcMessage<RoleServer>) -> std::io::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(item).map_err(std::io::Error::other)?;
    line.push(b'\n');
    crate::heap::sent(line.len());
    Ok(line)
}

impl<R, W> Transport<RoleServer> for StdioTransport<R, W>
where
    R: AsyncRead + Send + Unpin,
    W: AsyncWrite + Send + Unpin + 'static,
{
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let encoded = encode_line(item);
        let write = self.write.clone();
        async move { write_line(&write, &encoded?).await }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            match self.read_line().await {
                Ok(LineRead::Line) => {}
                Ok(LineRead::TooLong(line)) => {
                    self.answer(too_long_answer(&line));
                    continue;
                }
                Ok(LineRead::Eof) => {
                    // Let the answers already due reach the client before the server stops.
                    while self.answers.join_next().await.is_some() {}
                    return None;
                }
                Err(e) => {
                    tracing::error!("reading stdin: {e}");
                    return None;
                }
            }
            let incoming = classify(&self.line);
            self.line.clear();
            match incoming {
                Some(Incoming::Message(m)) => return Some(*m),
                Some(Incoming::Answer(bytes)) => self.answer(bytes),
                Some(Incoming::Skip) | None => {}
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        while self.answers.join_next().await.is_some() {}
        let mut guard = self.write.lock().await;
        if let Some(mut w) = guard.take() {
            w.flush().await?;
        }
        Ok(())
    }
}

/// The transport on the process's stdin and stdout.
pub fn transport() -> StdioTransport<tokio::io::Stdin, tokio::io::Stdout> {
    widen_stdout_pipe();
    StdioTransport::new(tokio::io::stdin(), tokio::io::stdout())
}

/// A pipe holds 64 KiB by default, so a reply of megabytes (a session read) would wake the client
/// and this process back and forth dozens of times; 1 MiB (the unprivileged maximum) cuts that to
/// a few. Nothing happens when stdout is not a pipe or the size cannot be changed.
fn widen_stdout_pipe() {
    const PIPE_BYTES: libc::c_int = 1 << 20;
    // SAFETY: fstat and fcntl on fd 1 only read or change the pipe's kernel buffer size.
    unsafe {
        let mut stat: libc::stat = std::mem::zeroed();
        if libc::fstat(1, &mut stat) == 0
            && stat.st_mode & libc::S_IFMT == libc::S_IFIFO
            && libc::fcntl(1, libc::F_SETPIPE_SZ, PIPE_BYTES) < 0
        {
            tracing::debug!(
                "stdout's pipe keeps its size: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::JsonRpcMessage;
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn a_tool_result_line_means_what_rmcps_codec_writes() {
        use rmcp::model::{CallToolResult, JsonRpcResponse, JsonRpcVersion2_0, NumberOrString};
        let structured = json!({"ok": true, "data": "line \"one\"\n\u{1}\tü😀", "n": 3});
        let mut result = CallToolResult::success(vec![ContentBlock::text(structured.to_string())]);
        result.structured_content = Some(structured);
        let item: TxJsonRpcMessage<RoleServer> = JsonRpcMessage::Response(JsonRpcResponse {
            jsonrpc: JsonRpcVersion2_0,
            id: NumberOrString::Number(7),
            result: ServerResult::CallToolResult(result),
        });
        let theirs = serde_json::to_value(&item).unwrap();
        let line = encode_line(item).unwrap();
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        let ours: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(ours, theirs);
        assert_eq!(ours["result"]["structuredContent"]["n"], 3);
    }

    #[tokio::test]
    async fn the_transport_answers_and_keeps_reading() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let (read, write) = tokio::io::split(server);
        let mut transport = StdioTransport::new(read, write);
        let long = vec![b'x'; DEFAULT_MAX_LINE_LENGTH + 10];
        let mut input = b"garbage\n".to_vec();
        input.extend_from_slice(&long);
        input.extend_from_slice(
            b"\n{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{\"a\":\"",
        );
        input.extend_from_slice(&long);
        input.extend_from_slice(
            b"\"},\"id\":77}\n{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\n",
        );
        let writer = tokio::spawn(async move {
            client.write_all(&input).await.unwrap();
            let mut out = Vec::new();
            let mut buf = [0u8; 4096];
            // Three answers, then the test drops the transport and the stream ends.
            while out.iter().filter(|b| **b == b'\n').count() < 3 {
                let n = tokio::io::AsyncReadExt::read(&mut client, &mut buf)
                    .await
                    .unwrap();
                assert!(
                    n > 0,
                    "stream ended early: {}",
                    String::from_utf8_lossy(&out)
                );
                out.extend_from_slice(&buf[..n]);
            }
            out
        });
        let message = transport
            .receive()
            .await
            .expect("the ping after the bad lines");
        assert!(matches!(message, JsonRpcMessage::Request(_)));
        let out = writer.await.unwrap();
        let lines: Vec<Value> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        let (errors, ids): (Vec<_>, Vec<_>) = lines
            .iter()
            .map(|l| (&l["error"]["code"], &l["id"]))
            .unzip();
        assert_eq!(errors.len(), 3);
        assert!(errors[..2].iter().all(|c| **c == -32700), "{lines:?}");
        assert!(ids[..2].iter().all(|id| id.is_null()), "{lines:?}");
        // The long request names its id, which stands after the long part.
        assert_eq!(
            (errors[2], ids[2]),
            (&json!(-32600), &json!(77)),
            "{lines:?}"
        );
        let message = lines[2]["error"]["message"].as_str().unwrap_or_default();
        let request_bytes = r#"{"jsonrpc":"2.0","method":"tools/call","params":{"a":""},"id":77}"#
            .len()
            + long.len();
        assert!(
            message.contains(&format!("{request_bytes} bytes")),
            "{message}"
        );
    }
}
