//! `ssh-mcp audit` on a written audit log (no daemon): the last records across a rotation, the
//! raw lines with `--json`, a tool filter, and `--follow` printing a record appended after it
//! started, then ending quietly on Ctrl-C (SIGINT).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::{Scratch, shim_bin};

fn record(time: &str, tool: &str, target: &str, summary: &str) -> String {
    format!(
        r#"{{"time":"2026-12-06T{time}.000Z","client":"test/1","pid":7,"tool":"{tool}","class":"exec","target":"{target}","decision":"allowed","rule":null,"summary":"{summary}","outcome":"ok","exit_code":0,"error_type":null,"duration_ms":3,"added_later":{{"x":1}}}}"#
    )
}

/// A state directory whose log is three records in `audit.jsonl.1` and two in `audit.jsonl`.
fn state(scratch: &Scratch) -> (std::path::PathBuf, Vec<String>) {
    let dir = scratch.join("state");
    std::fs::create_dir_all(&dir).unwrap();
    let lines = vec![
        record("10:00:00", "ssh_exec", "old-1", "rotated exec"),
        record("10:00:01", "ssh_view", "old-1", "rotated view"),
        record("10:00:02", "ssh_grep", "prod-1", "rotated grep"),
        record("10:00:03", "ssh_exec", "prod-1", "current exec"),
        record("10:00:04", "ssh_glob", "prod-2", "current glob"),
    ];
    let file = |ls: &[String]| ls.iter().map(|l| format!("{l}\n")).collect::<String>();
    std::fs::write(dir.join("audit.jsonl.1"), file(&lines[..3])).unwrap();
    std::fs::write(dir.join("audit.jsonl"), file(&lines[3..])).unwrap();
    (dir, lines)
}

fn audit(state_dir: &Path, args: &[&str]) -> (String, String) {
    let out = Command::new(shim_bin())
        .arg("audit")
        .args(args)
        .env("SSH_MCP_STATE_DIR", state_dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "audit {args:?}: {stdout}{stderr}");
    (stdout, stderr)
}

#[test]
fn the_last_records_show_as_a_table_across_a_rotation() {
    let scratch = Scratch::new("audit-table");
    let (dir, _) = state(&scratch);
    let (text, stderr) = audit(&dir, &["-n", "3"]);
    assert!(stderr.is_empty(), "{stderr}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("TIME (UTC)"), "{text}");
    for (line, (time, summary)) in lines[1..].iter().zip([
        ("2026-12-06 10:00:02", "rotated grep"),
        ("2026-12-06 10:00:03", "current exec"),
        ("2026-12-06 10:00:04", "current glob"),
    ]) {
        assert!(line.starts_with(time), "{text}");
        assert!(line.ends_with(summary), "{text}");
    }
    let summary_at = lines[0].find("SUMMARY").unwrap();
    assert_eq!(lines[1].find("rotated grep"), Some(summary_at), "{text}");
}

#[test]
fn json_prints_the_lines_as_stored_and_tool_filters() {
    let scratch = Scratch::new("audit-json");
    let (dir, lines) = state(&scratch);
    let (json, _) = audit(&dir, &["--json"]);
    let all: String = lines.iter().map(|l| format!("{l}\n")).collect();
    assert_eq!(json, all);
    let (exec, _) = audit(&dir, &["--json", "--tool", "exec"]);
    assert_eq!(exec, format!("{}\n{}\n", lines[0], lines[3]));
    let (table, _) = audit(&dir, &["--tool", "exec"]);
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(table.contains("rotated exec") && table.contains("current exec"));
    assert!(!table.contains("grep"), "{table}");
    let empty = scratch.join("empty");
    let (none, _) = audit(&empty, &[]);
    assert_eq!(
        none,
        format!(
            "no audit records yet at {}\n",
            empty.join("audit.jsonl").display()
        )
    );
}

/// Kills the child if the test fails before it ends it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The next line the child printed, awaited until `deadline`.
fn next_line(lines: &mpsc::Receiver<String>, deadline: Instant) -> String {
    let left = deadline.saturating_duration_since(Instant::now());
    lines
        .recv_timeout(left)
        .expect("ssh-mcp audit --follow printed nothing in time")
}

#[test]
fn follow_prints_a_record_appended_after_it_started() {
    let scratch = Scratch::new("audit-follow");
    let (dir, _) = state(&scratch);
    let mut child = Running(
        Command::new(shim_bin())
            .args(["audit", "--follow", "-n", "1", "--target", "prod-*"])
            .env("SSH_MCP_STATE_DIR", &dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (tx, lines) = mpsc::channel();
    let stdout = child.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    assert!(next_line(&lines, deadline).starts_with("TIME (UTC)"));
    assert!(next_line(&lines, deadline).ends_with("current glob"));
    // Appended while it runs: one the filter passes, after one it does not.
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("audit.jsonl"))
        .unwrap();
    let skipped = record("10:00:05", "ssh_exec", "staging", "not shown");
    let shown = record("10:00:06", "ssh_exec", "prod-3", "appended later");
    writeln!(log, "{skipped}\n{shown}").unwrap();
    let line = next_line(&lines, deadline);
    assert!(line.starts_with("2026-12-06 10:00:06"), "{line}");
    assert!(line.ends_with("appended later"), "{line}");
    // Ctrl-C ends it, quietly and with success.
    unsafe {
        libc::kill(child.0.id() as i32, libc::SIGINT);
    }
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.is_empty(), "{stderr}");
}
