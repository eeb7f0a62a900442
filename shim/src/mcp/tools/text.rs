//! Remote bytes as JSON text: what several tools do with output and file content.

use base64::Engine;

/// Bytes as text (lossy), plus their exact base64 when they are not valid UTF-8.
pub(crate) fn text_and_exact(bytes: Vec<u8>) -> (String, Option<String>) {
    match String::from_utf8(bytes) {
        Ok(s) => (s, None),
        Err(e) => {
            let bytes = e.into_bytes();
            (
                String::from_utf8_lossy(&bytes).into_owned(),
                Some(base64::engine::general_purpose::STANDARD.encode(&bytes)),
            )
        }
    }
}

/// Bytes as text: moved without a copy when they are UTF-8 (as a flood's megabytes usually are),
/// with invalid sequences replaced otherwise.
pub(crate) fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}
