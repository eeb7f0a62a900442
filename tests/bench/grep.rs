//! Benchmark: `ssh_grep` over a tree of 10,000 files (1,000 with `--quick`), against what a grep
//! done in ssh-mcp over SFTP would at least cost: reading every file of the tree over SFTP
//! (OpenSSH's `sftp -r get`, which keeps many reads in flight, over one of the bench's masters).
//! This is the measurement behind ssh_grep running grep on the host (daemon/src/search/grep.rs).
//! For context, `ssh_glob` over the same tree (a directory walk over SFTP).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde_json::json;

use crate::bare::Master;
use crate::env::BenchEnv;
use crate::mcp_client::McpClient;
use crate::plan::Plan;
use crate::report::{Figure, Goal, Samples, Section};
use crate::session_tools::{clip, flag};

const TARGET_MS: f64 = 250.0;
const FILES_PER_DIR: usize = 100;
/// One file in this many holds the needle.
const NEEDLE_EVERY: usize = 100;
const NEEDLE: &str = "needle-7f3a";

/// About 2 KiB of source-like text per file.
fn file_text(i: usize) -> String {
    let mut s = String::with_capacity(2200);
    for line in 0..40 {
        s.push_str(&format!(
            "fn item_{i}_{line}(value: u64) -> u64 {{ value.wrapping_mul({line}) }}\n"
        ));
    }
    if i.is_multiple_of(NEEDLE_EVERY) {
        s.push_str(&format!("// {NEEDLE} in file {i}\n"));
    }
    s
}

/// Writes `files` files in directories of [`FILES_PER_DIR`]; returns the tree's root.
fn make_tree(root: &Path, files: usize) -> anyhow::Result<PathBuf> {
    let tree = root.join("grep-tree");
    for i in 0..files {
        let dir = tree.join(format!("d{:03}", i / FILES_PER_DIR));
        if i.is_multiple_of(FILES_PER_DIR) {
            std::fs::create_dir_all(&dir)?;
        }
        std::fs::write(dir.join(format!("f{i:05}.rs")), file_text(i))?;
    }
    Ok(tree)
}

/// One `ssh_grep` (files_with_matches) over the tree, checked.
async fn grep_once(
    client: &mut McpClient,
    tree: &Path,
    expected: usize,
) -> anyhow::Result<Duration> {
    let (r, took) = client
        .call_timed(
            "ssh_grep",
            json!({"target": "testhost", "pattern": NEEDLE, "path": tree.display().to_string()}),
        )
        .await?;
    let found = r.get("matches").and_then(|m| m.as_array()).map(Vec::len);
    ensure!(
        flag(&r, "ok") && found == Some(expected),
        "ssh_grep: expected {expected} files, got {}",
        clip(&r)
    );
    Ok(took)
}

/// One `ssh_glob` of `**/*.rs` over the tree, checked.
async fn glob_once(client: &mut McpClient, tree: &Path, files: usize) -> anyhow::Result<Duration> {
    let (r, took) = client
        .call_timed(
            "ssh_glob",
            json!({"target": "testhost", "pattern": "**/*.rs", "path": tree.display().to_string()}),
        )
        .await?;
    let found = r.get("matches").and_then(|m| m.as_array()).map(Vec::len);
    ensure!(
        flag(&r, "ok") && found == Some(files),
        "ssh_glob: expected {files} files, got {}",
        clip(&r)
    );
    Ok(took)
}

/// One `sftp -r get` of the whole tree over `master` into a fresh local directory, timed.
fn sftp_read_once(env: &BenchEnv, master: &Master, tree: &Path) -> anyhow::Result<Duration> {
    let dest = env.root.join("grep-sftp-copy");
    let _ = std::fs::remove_dir_all(&dest);
    let batch = env.root.join("grep-sftp.batch");
    std::fs::write(
        &batch,
        format!("get -r {} {}\n", tree.display(), dest.display()),
    )?;
    let started = Instant::now();
    let out = Command::new("sftp")
        .arg("-F")
        .arg(&env.ssh_config)
        .arg("-o")
        .arg(format!("ControlPath={}", master.path.display()))
        .args(["-o", "ControlMaster=no", "-q", "-b"])
        .arg(&batch)
        .arg("testhost")
        .stdin(Stdio::null())
        .output()
        .context("running sftp")?;
    let took = started.elapsed();
    ensure!(
        out.status.success(),
        "sftp get -r failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let _ = std::fs::remove_dir_all(&dest);
    Ok(took)
}

pub async fn run(plan: &Plan, env: &BenchEnv, master: &Master) -> anyhow::Result<Section> {
    let check = plan.check;
    let (files, grep_rounds, sftp_rounds) = if plan.quick {
        (1_000, 5, 2)
    } else {
        (10_000, 15, 5)
    };
    let tree = make_tree(&env.root, files)?;
    let expected = files.div_ceil(NEEDLE_EVERY);
    let mut client = McpClient::connect(env, &env.shim).await?;
    // Untimed: brings the connection up and the tree into the page cache.
    grep_once(&mut client, &tree, expected).await?;
    let mut greps = Samples::default();
    for _ in 0..grep_rounds {
        greps.push(grep_once(&mut client, &tree, expected).await?);
    }
    glob_once(&mut client, &tree, files).await?;
    let mut globs = Samples::default();
    for _ in 0..grep_rounds {
        globs.push(glob_once(&mut client, &tree, files).await?);
    }
    client.close().await?;
    sftp_read_once(env, master, &tree)?;
    let mut reads = Samples::default();
    for _ in 0..sftp_rounds {
        reads.push(sftp_read_once(env, master, &tree)?);
    }
    let _ = std::fs::remove_dir_all(&tree);

    let median = greps.median();
    let ratio = reads.median() / median;
    Ok(Section {
        title: format!("10. ssh_grep over {files} files"),
        method: format!(
            "A tree of {files} files of about 2 KiB ({} directories of {FILES_PER_DIR}), one file \
             in {NEEDLE_EVERY} holding the needle. Through one MCP session, one untimed and \
             {} timed `ssh_grep` calls (files_with_matches, the default) over the tree, each \
             checked to list the {expected} files; times are request written → response read. \
             For comparison, what grep over SFTP would at least cost: {} timed runs (after one \
             untimed) of OpenSSH's `sftp -b` with `get -r` of the whole tree over one of the \
             bench's ControlMasters into a fresh local directory, which reads every file with \
             many requests in flight. ssh_grep runs grep on the host for this reason. For context, \
             {} timed `ssh_glob` calls of `**/*.rs` over the same tree (a directory walk over \
             SFTP), each checked to list all {files} files.",
            files.div_ceil(FILES_PER_DIR),
            greps.len(),
            reads.len(),
            globs.len()
        ),
        figures: vec![
            Figure::timing(
                &format!("ssh_grep over {files} files (files_with_matches)"),
                &greps,
                &check.text(Goal::AtMost(TARGET_MS), " ms"),
                Some(check.met(Goal::AtMost(TARGET_MS), median)),
            ),
            Figure::timing(
                &format!("reading the same {files} files over SFTP (context)"),
                &reads,
                "",
                None,
            ),
            Figure::timing(
                &format!("ssh_glob `**/*.rs` over {files} files (context)"),
                &globs,
                "",
                None,
            ),
            Figure::value(
                "SFTP read time / ssh_grep time (context)",
                format!("{ratio:.1}×"),
                String::new(),
                "",
                None,
            ),
        ],
        notes: Vec::new(),
    })
}
