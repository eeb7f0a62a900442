//! The MCP transport on stdin/stdout: one JSON-RPC message per line. Valid messages are rmcp's
//! (its message types decode them, its codec encodes what the server sends); this file adds the
//! answers JSON-RPC 2.0 requires for lines rmcp cannot read, which it would drop or answer
//! without an id, leaving a client waiting: a Parse error (-32700, id null) for a line that is not
//! JSON, an Invalid Request (-32600, with the id when one can be read) for JSON that is not a
//! request, notification or response, and one answer per element for a batch (MCP has none).
//! Notifications are never answered, as JSON-RPC requires. A line longer than the limit is
//! dropped as it passes, and answered once it ends, with its id when it has one
//! ([`oversized`]), so a client that sent too much gets an error instead of waiting for ever.

mod oversized;

use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::ErrorCode;
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::async_rw::{DEFAULT_MAX_LINE_LENGTH, JsonRpcMessageCodec};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use tokio_util::bytes::BytesMut;
use tokio_util::codec::Encoder;

use oversized::OversizedLine;

/// A UTF-8 byte order mark, which JSON parsers may ignore (RFC 8259 §8.1); rmcp does.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

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

/// What one line asks of the transport.
#[derive(Debug)]
enum Incoming {
    Message(Box<RxJsonRpcMessage<RoleServer>>),
    /// Write this JSON-RPC answer (one line, newline included).
    Answer(Vec<u8>),
    /// A notification rmcp does not know: JSON-RPC forbids answering it.
    Skip,
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
        let mut bytes = BytesMut::new();
        let encoded = JsonRpcMessageCodec::default()
            .encode(item, &mut bytes)
            .map_err(std::io::Error::from);
        let write = self.write.clone();
        async move {
            encoded?;
            write_line(&write, &bytes).await
        }
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

/// The answer to a line over the limit: an Invalid Request with the line's id when it has one
/// (a request), a Parse error with id null when none can be read.
fn too_long_answer(line: &OversizedLine) -> Vec<u8> {
    let limit = DEFAULT_MAX_LINE_LENGTH >> 20;
    let bytes = line.bytes();
    let id = line.id();
    if id.is_null() {
        return error_line(
            ErrorCode::PARSE_ERROR,
            &format!(
                "Parse error: a message of {bytes} bytes is longer than the {limit} MiB limit"
            ),
            id,
        );
    }
    error_line(
        ErrorCode::INVALID_REQUEST,
        &format!(
            "Invalid Request: this request is {bytes} bytes, longer than the {limit} MiB a \
             message may have, so it was not read. Send large content in parts, or move files \
             with ssh_scp or ssh_sync."
        ),
        id,
    )
}

/// What to do with one line (`None` for an empty one).
fn classify(line: &[u8]) -> Option<Incoming> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.strip_prefix(UTF8_BOM).unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let refusal = match serde_json::from_slice::<RxJsonRpcMessage<RoleServer>>(line) {
        Ok(message) => return Some(Incoming::Message(Box::new(message))),
        Err(e) => e,
    };
    let value = match serde_json::from_slice::<Value>(line) {
        Ok(v) => v,
        Err(e) => {
            tracing::debug!("answering a line that is not JSON: {e}");
            return Some(Incoming::Answer(error_line(
                ErrorCode::PARSE_ERROR,
                &format!("Parse error: not JSON ({e})"),
                Value::Null,
            )));
        }
    };
    let answer = match &value {
        Value::Array(batch) if batch.is_empty() => {
            Some(invalid_request(Value::Null, "an empty batch".into()))
        }
        Value::Array(batch) => {
            let answers: Vec<Value> = batch.iter().filter_map(batch_element_answer).collect();
            (!answers.is_empty()).then_some(Value::Array(answers))
        }
        other => single_answer(other, &refusal),
    };
    Some(match answer {
        Some(a) => Incoming::Answer(to_line(&a)),
        None => {
            tracing::debug!("ignoring a notification rmcp does not read: {refusal}");
            Incoming::Skip
        }
    })
}

/// The answer to one message rmcp refused, or `None` when it must not be answered.
fn single_answer(value: &Value, refusal: &serde_json::Error) -> Option<Value> {
    let Value::Object(object) = value else {
        return Some(invalid_request(Value::Null, "not a JSON object".into()));
    };
    if is_notification(object) || is_response(object) {
        return None;
    }
    let reason = shape_problem(object).unwrap_or_else(|| {
        let method = object.get("method").and_then(Value::as_str).unwrap_or("");
        format!("its params do not fit {method} ({refusal})")
    });
    Some(invalid_request(readable_id(object), reason))
}

/// MCP has no batches (JSON-RPC batching was removed in 2025-06-18): every request in one gets
/// an Invalid Request answer that says so, in one array, as JSON-RPC answers a batch.
fn batch_element_answer(element: &Value) -> Option<Value> {
    match element {
        Value::Object(o) if is_notification(o) || is_response(o) => None,
        Value::Object(o) => Some(invalid_request(
            readable_id(o),
            "MCP has no batches; send one message per line".into(),
        )),
        _ => Some(invalid_request(Value::Null, "not a JSON object".into())),
    }
}

fn is_notification(o: &Map<String, Value>) -> bool {
    o.get("jsonrpc").and_then(Value::as_str) == Some("2.0")
        && o.get("method").is_some_and(Value::is_string)
        && !o.contains_key("id")
}

fn is_response(o: &Map<String, Value>) -> bool {
    o.get("jsonrpc").and_then(Value::as_str) == Some("2.0")
        && !o.contains_key("method")
        && o.contains_key("id")
        && (o.contains_key("result") != o.contains_key("error"))
}

/// What makes `o` no JSON-RPC 2.0 request, if anything.
fn shape_problem(o: &Map<String, Value>) -> Option<String> {
    if o.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Some("jsonrpc must be \"2.0\"".into());
    }
    match o.get("method") {
        None => return Some("no method".into()),
        Some(m) if !m.is_string() => return Some("method must be a string".into()),
        Some(_) => {}
    }
    if readable_id(o).is_null() {
        return Some("id must be a string or an integer".into());
    }
    None
}

/// The request's id when it is one JSON-RPC allows (a string or an integer), else null.
fn readable_id(o: &Map<String, Value>) -> Value {
    match o.get("id") {
        Some(id @ Value::String(_)) => id.clone(),
        Some(id @ Value::Number(n)) if n.is_i64() || n.is_u64() => id.clone(),
        _ => Value::Null,
    }
}

fn invalid_request(id: Value, reason: String) -> Value {
    error_value(
        ErrorCode::INVALID_REQUEST,
        &format!("Invalid Request: {reason}"),
        id,
    )
}

fn error_value(code: ErrorCode, message: &str, id: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code.0, "message": message}})
}

fn error_line(code: ErrorCode, message: &str, id: Value) -> Vec<u8> {
    to_line(&error_value(code, message, id))
}

fn to_line(value: &Value) -> Vec<u8> {
    let mut bytes = value.to_string().into_bytes();
    bytes.push(b'\n');
    bytes
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

    use super::*;

    fn answer(line: &str) -> Value {
        match classify(line.as_bytes()) {
            Some(Incoming::Answer(bytes)) => {
                assert_eq!(bytes.last(), Some(&b'\n'));
                serde_json::from_slice(&bytes).unwrap()
            }
            other => panic!("{line}: no answer but {other:?}"),
        }
    }

    #[test]
    fn a_line_that_is_not_json_gets_a_parse_error_with_id_null() {
        for line in ["not json", "{\"jsonrpc\":", "\u{feff}{", "\"unterminated"] {
            let a = answer(line);
            assert_eq!(a["error"]["code"], -32700, "{line}: {a}");
            assert!(a.as_object().unwrap()["id"].is_null(), "{line}: {a}");
            assert_eq!(a["jsonrpc"], "2.0");
        }
        let bytes = b"{\"id\":1,\xff}";
        assert!(matches!(classify(bytes), Some(Incoming::Answer(_))));
    }

    #[test]
    fn an_invalid_request_is_answered_with_its_id_when_it_can_be_read() {
        let a = answer(r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":5}"#);
        assert_eq!(
            (a["error"]["code"].as_i64(), &a["id"]),
            (Some(-32600), &json!(4))
        );
        let a = answer(r#"{"jsonrpc":"2.0","id":"x","method":7}"#);
        assert_eq!(
            (a["error"]["code"].as_i64(), &a["id"]),
            (Some(-32600), &json!("x"))
        );
        assert!(
            a["error"]["message"].as_str().unwrap().contains("method"),
            "{a}"
        );
        let a = answer(r#"{"jsonrpc":"1.0","id":5,"method":"ping"}"#);
        assert_eq!(a["id"], 5);
        for line in [
            "5",
            "null",
            "\"text\"",
            r#"{"id":1.5,"method":"ping","jsonrpc":"2.0"}"#,
        ] {
            let a = answer(line);
            assert_eq!(a["error"]["code"], -32600, "{line}: {a}");
            assert!(a.as_object().unwrap()["id"].is_null(), "{line}: {a}");
        }
    }

    #[test]
    fn batches_are_answered_per_element_and_an_empty_one_is_invalid() {
        let a = answer("[]");
        assert_eq!(a["error"]["code"], -32600);
        assert!(a["id"].is_null());
        let a = answer(
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},1,{"jsonrpc":"2.0","method":"notifications/initialized"}]"#,
        );
        let answers = a.as_array().unwrap();
        assert_eq!(answers.len(), 2, "{a}");
        assert_eq!(
            (&answers[0]["id"], &answers[0]["error"]["code"]),
            (&json!(1), &json!(-32600))
        );
        assert!(answers[1]["id"].is_null());
        let only_notifications = r#"[{"jsonrpc":"2.0","method":"notifications/x"}]"#;
        assert!(matches!(
            classify(only_notifications.as_bytes()),
            Some(Incoming::Skip)
        ));
    }

    #[test]
    fn valid_messages_are_rmcps_and_unknown_notifications_get_no_answer() {
        let ping = classify(b"{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"}\r\n");
        assert!(
            matches!(ping, Some(Incoming::Message(m)) if matches!(*m, JsonRpcMessage::Request(_)))
        );
        // A notification rmcp cannot read (progress without its fields) is not answered.
        let unreadable = br#"{"jsonrpc":"2.0","method":"notifications/progress","params":5}"#;
        assert!(matches!(classify(unreadable), Some(Incoming::Skip)));
        let unknown = br#"{"jsonrpc":"2.0","method":"notifications/whatever","params":{}}"#;
        assert!(!matches!(classify(unknown), Some(Incoming::Answer(_))));
        assert!(classify(b"\n").is_none());
        assert!(classify(b"  \r\n").is_none());
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
