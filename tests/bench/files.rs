//! The file tools' benchmark: `ssh_view` of a 1 MB file (the default view, which reads only the
//! first 20 KB, and the whole file with `force_read_large_files`) and `ssh_edit` of one line in
//! it, all over SFTP on the daemon's master, through the shim. For context, bare `ssh cat` of the
//! same file over a ControlMaster of the bench's own.

use std::path::Path;

use anyhow::{Context, ensure};
use serde_json::{Value, json};

use crate::bare::{self, Master};
use crate::env::BenchEnv;
use crate::mcp_client::McpClient;
use crate::plan::Plan;
use crate::report::{Figure, Goal, Samples, Section};

/// The file's size.
const FILE_BYTES: usize = 1_000_000;
const WARMUP: usize = 3;
/// Targets: well above what loopback needs, well below what an agent would notice.
const VIEW_TARGET_MS: f64 = 50.0;
const EDIT_TARGET_MS: f64 = 100.0;

/// 1 MB of numbered lines with one `MARK-0` in the middle.
fn write_file(path: &Path) -> anyhow::Result<()> {
    let mut content = Vec::with_capacity(FILE_BYTES);
    let mut n = 0;
    while content.len() < FILE_BYTES {
        if n == 7_000 {
            content.extend_from_slice(b"MARK-0\n");
        }
        content.extend_from_slice(format!("line {n:07} of the benchmark file\n").as_bytes());
        n += 1;
    }
    content.truncate(FILE_BYTES);
    std::fs::write(path, &content).with_context(|| format!("writing {}", path.display()))
}

fn number(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(u64::MAX)
}

fn content_len(v: &Value) -> usize {
    v.get("content").and_then(Value::as_str).map_or(0, str::len)
}

pub async fn run(
    plan: &Plan,
    env: &BenchEnv,
    client: &mut McpClient,
    master: &Master,
) -> anyhow::Result<Section> {
    let check = plan.check;
    let dir = env.root.join("files");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("one-megabyte.txt");
    write_file(&file)?;
    let path = file.display().to_string();
    let view = json!({"target": "testhost", "path": path});
    let whole = json!({"target": "testhost", "path": path, "force_read_large_files": true});
    for _ in 0..WARMUP {
        client.call_timed("ssh_view", whole.clone()).await?;
    }

    let mut auto = Samples::default();
    let mut full = Samples::default();
    let mut cat = Samples::default();
    let cat_argv = master.command(&format!("cat {path}"));
    for _ in 0..plan.files_rounds {
        let (r, took) = client.call_timed("ssh_view", view.clone()).await?;
        ensure!(
            r["truncated"] == true && content_len(&r) == 20_480,
            "ssh_view: expected the first 20480 bytes, got {} bytes",
            content_len(&r)
        );
        auto.push(took);
        let (r, took) = client.call_timed("ssh_view", whole.clone()).await?;
        ensure!(
            number(&r, "size_bytes") == FILE_BYTES as u64 && content_len(&r) == FILE_BYTES,
            "ssh_view (whole): expected {FILE_BYTES} bytes, got {}",
            content_len(&r)
        );
        full.push(took);
        cat.push(bare::run_timed(&cat_argv)?);
    }

    let mut edits = Samples::default();
    for i in 0..plan.files_rounds {
        let args = json!({"target": "testhost", "path": path,
            "edits": [{"old_str": format!("MARK-{i}\n"), "new_str": format!("MARK-{}\n", i + 1)}]});
        let (r, took) = client.call_timed("ssh_edit", args).await?;
        ensure!(
            number(&r, "replacements") == 1 && number(&r, "bytes_written") >= FILE_BYTES as u64,
            "ssh_edit: unexpected result {r}"
        );
        edits.push(took);
    }
    let text = std::fs::read_to_string(&file)?;
    ensure!(
        text.contains(&format!("\nMARK-{}\n", plan.files_rounds)) && text.len() > FILE_BYTES - 100,
        "the file does not hold the last edit"
    );

    Ok(Section {
        title: "3. Files: view and edit of a 1 MB file".into(),
        method: format!(
            "A 1,000,000-byte text file of numbered lines on the bench's sshd (loopback), one MCP \
             session through the shim, the daemon's SFTP channel on its ControlMaster (a new SFTP \
             session per call). {WARMUP} untimed whole views, then {n} rounds of: `ssh_view` with \
             the defaults (the first 20,480 bytes; the daemon reads only those plus 3), \
             `ssh_view` with `force_read_large_files` (all 1 MB, checked), and for context bare \
             `ssh -S <master> testhost cat <file>` over a ControlMaster of the bench's own (its \
             output to /dev/null, so no JSON either). Then {n} `ssh_edit` calls, each replacing \
             the one marker line in the middle of the file by the next (read 1 MB, write 1 MB to \
             a temporary file beside it, fsync, re-read to check nothing changed meanwhile, \
             rename); the last marker is checked in the file at the end. Times are request \
             written → response read.",
            n = plan.files_rounds
        ),
        figures: vec![
            Figure::timing(
                "files: `ssh_view` of a 1 MB file (default: first 20 KB)",
                &auto,
                &check.text(Goal::Below(VIEW_TARGET_MS), " ms"),
                Some(check.met(Goal::Below(VIEW_TARGET_MS), auto.median())),
            ),
            Figure::timing(
                "files: `ssh_view` of a 1 MB file, whole (`force_read_large_files`)",
                &full,
                &check.text(Goal::Below(VIEW_TARGET_MS), " ms"),
                Some(check.met(Goal::Below(VIEW_TARGET_MS), full.median())),
            ),
            Figure::timing(
                "files: bare `ssh cat` of the 1 MB file over a master (context)",
                &cat,
                "",
                None,
            ),
            Figure::timing(
                "files: `ssh_edit` of one line in a 1 MB file",
                &edits,
                &check.text(Goal::Below(EDIT_TARGET_MS), " ms"),
                Some(check.met(Goal::Below(EDIT_TARGET_MS), edits.median())),
            ),
        ],
        notes: Vec::new(),
    })
}
