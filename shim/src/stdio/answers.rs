//! What the stdio transport makes of one line: a message for rmcp, or the JSON-RPC 2.0 answer
//! that rmcp would not give (a Parse error for a line that is not JSON, an Invalid Request with
//! the id when one can be read, one answer per element for a batch, and for a line over the limit
//! the answer that says so), or nothing for a notification, which is never answered.

use rmcp::RoleServer;
use rmcp::model::ErrorCode;
use rmcp::service::RxJsonRpcMessage;
use rmcp::transport::async_rw::DEFAULT_MAX_LINE_LENGTH;
use serde_json::{Map, Value, json};

use super::oversized::OversizedLine;

/// A UTF-8 byte order mark, which JSON parsers may ignore (RFC 8259 §8.1); rmcp does.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// What one line asks of the transport.
#[derive(Debug)]
pub(super) enum Incoming {
    Message(Box<RxJsonRpcMessage<RoleServer>>),
    /// Write this JSON-RPC answer (one line, newline included).
    Answer(Vec<u8>),
    /// A notification rmcp does not know: JSON-RPC forbids answering it.
    Skip,
}

/// The answer to a line over the limit: an Invalid Request with the line's id when it has one
/// (a request), a Parse error with id null when none can be read.
pub(super) fn too_long_answer(line: &OversizedLine) -> Vec<u8> {
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
pub(super) fn classify(line: &[u8]) -> Option<Incoming> {
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
}
