//! tools/list is part of the interface every MCP client caches and every conversation pays for:
//! the shim's answer must stay byte for byte what `tests/data/tools_list.json` holds, so that a
//! refactoring cannot change a schema, a description or the order of fields unnoticed. A change
//! that is meant (a new tool, a reworded description) regenerates the file:
//! `UPDATE_TOOLS_LIST=1 cargo test --test tests tools_list`, and the diff goes into the commit.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use crate::support::{Scratch, shim_bin};

const GOLDEN: &str = "tests/data/tools_list.json";

/// The shim's raw answer to `tools/list` (id 2) after an `initialize`, as one line with its `\n`.
/// No daemon is needed: the shim lists its tools on its own.
fn tools_list_line() -> String {
    let scratch = Scratch::new("toolslist");
    let mut shim = Command::new(shim_bin())
        .env("SSH_MCP_NO_AUTOSTART", "1")
        .env("SSH_MCP_SOCKET", scratch.join("none.sock"))
        .env("SSH_MCP_STATE_DIR", scratch.join("state"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = shim.stdin.take().unwrap();
    let mut stdout = BufReader::new(shim.stdout.take().unwrap());
    let mut line = String::new();
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-06-18","capabilities":{{}},"clientInfo":{{"name":"tools-list-test","version":"1"}}}}}}"#
    )
    .unwrap();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains(r#""id":1,"result""#), "initialize: {line}");
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )
    .unwrap();
    writeln!(stdin, r#"{{"jsonrpc":"2.0","id":2,"method":"tools/list"}}"#).unwrap();
    line.clear();
    stdout.read_line(&mut line).unwrap();
    let _ = shim.kill();
    let _ = shim.wait();
    line
}

/// Where `a` and `b` first differ, with some context of each.
fn first_difference(a: &str, b: &str) -> String {
    let at = a
        .bytes()
        .zip(b.bytes())
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let around = |s: &str| {
        let bytes = &s.as_bytes()[at.saturating_sub(120).min(s.len())..(at + 120).min(s.len())];
        String::from_utf8_lossy(bytes).into_owned()
    };
    format!(
        "first difference at byte {at} (expected {} bytes, got {}):\n  expected: …{}…\n  got:      …{}…",
        a.len(),
        b.len(),
        around(a),
        around(b)
    )
}

#[test]
fn tools_list_is_byte_identical_to_the_golden_file() {
    let got = tools_list_line();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    if std::env::var_os("UPDATE_TOOLS_LIST").is_some_and(|v| !v.is_empty()) {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert!(
        got == expected,
        "tools/list changed. If the change is meant (a tool, parameter or description was added or \
         reworded on purpose), regenerate {GOLDEN} with `UPDATE_TOOLS_LIST=1 cargo test --test \
         tests tools_list` and commit its diff; otherwise the change is a regression.\n{}",
        first_difference(&expected, &got)
    );
}
