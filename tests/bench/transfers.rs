//! Benchmark 8, transfers: a file of incompressible bytes (200 MB; 20 MB with `--quick`) goes up
//! and comes back with `ssh_scp` and `ssh_sync` through the shim and the daemon, and with bare
//! `scp` and `rsync` over one of the bench's own ControlMasters. Each round times the tool and the
//! bare command one after the other (alternating which goes first) into a fresh destination; the
//! figure is the ratio of the medians (target ≤ 1.1×).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde_json::{Value, json};

use crate::bare::Master;
use crate::env::BenchEnv;
use crate::mcp_client::McpClient;
use crate::plan::Plan;
use crate::report::{Figure, Goal, Samples, Section};

const TARGET_RATIO: f64 = 1.1;

/// Writes `bytes` of xorshift output: nothing for compression to win.
fn write_incompressible(path: &Path, bytes: u64) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut left = bytes;
    let mut block = vec![0u8; 1 << 16];
    while left > 0 {
        for chunk in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        left -= n as u64;
    }
    f.flush()?;
    Ok(())
}

fn run_bare(program: &str, args: &[String]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("running {program}"))?;
    let took = started.elapsed();
    ensure!(
        out.status.success(),
        "{program} {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(took)
}

/// The ssh options that put bare scp and rsync on `master`.
fn over_master(config: &Path, master: &Master) -> Vec<String> {
    vec![
        "-F".into(),
        config.display().to_string(),
        "-o".into(),
        format!("ControlPath={}", master.path.display()),
        "-o".into(),
        "ControlMaster=no".into(),
    ]
}

fn bare_scp(config: &Path, master: &Master, from: &str, to: &str) -> Vec<String> {
    let mut a = vec!["-s".to_owned()];
    a.extend(over_master(config, master));
    a.extend(["--".into(), from.into(), to.into()]);
    a
}

fn bare_rsync(config: &Path, master: &Master, from: &str, to: &str) -> Vec<String> {
    let ssh = std::iter::once("ssh".to_owned())
        .chain(over_master(config, master))
        .collect::<Vec<_>>()
        .join(" ");
    vec![
        "-s".into(),
        "-a".into(),
        "-e".into(),
        ssh,
        "--".into(),
        from.into(),
        to.into(),
    ]
}

/// One tool call, timed; fails unless the result is ok and says every byte moved.
async fn tool(
    client: &mut McpClient,
    name: &str,
    arguments: Value,
    bytes: u64,
) -> anyhow::Result<Duration> {
    let (r, took) = client.call_timed(name, arguments).await?;
    ensure!(
        r.get("ok").and_then(Value::as_bool) == Some(true),
        "{name} failed: {r}"
    );
    ensure!(
        r.get("bytes_transferred").and_then(Value::as_u64) == Some(bytes),
        "{name} moved other than {bytes} bytes: {r}"
    );
    Ok(took)
}

/// Removes `path`, then flushes dirty pages to disk, so that each timed copy starts from the
/// same state: without it, the writeback of the previous 200 MB copy lands on whichever copy
/// runs next, tool or bare.
fn fresh(path: &Path) {
    let _ = std::fs::remove_file(path);
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

struct Pair {
    tool: Samples,
    bare: Samples,
}

impl Pair {
    fn new() -> Self {
        Self {
            tool: Samples::default(),
            bare: Samples::default(),
        }
    }

    fn ratio(&self) -> f64 {
        self.tool.median() / self.bare.median()
    }
}

pub async fn run(plan: &Plan, env: &BenchEnv, master: &Master) -> anyhow::Result<Section> {
    let check = plan.check;
    let bytes = plan.transfer_bytes;
    let dir = env.root.join("xfer");
    std::fs::create_dir_all(&dir)?;
    let src = dir.join("src.bin");
    write_incompressible(&src, bytes)?;
    let remote = |name: &str| dir.join(name);
    let s = |p: &PathBuf| p.display().to_string();
    let host = |p: &PathBuf| format!("testhost:{}", p.display());
    let config = &env.ssh_config;

    let mut client = McpClient::connect(env, &env.shim).await?;
    let (warm, _) = client
        .call_timed("ssh_exec", json!({"target": "testhost", "command": "true"}))
        .await?;
    ensure!(
        warm.get("ok") == Some(&Value::Bool(true)),
        "warm-up: {warm}"
    );

    let (mut scp_up, mut scp_down, mut rsync_up, mut rsync_down) =
        (Pair::new(), Pair::new(), Pair::new(), Pair::new());
    for round in 0..plan.transfer_rounds {
        let tool_first = round % 2 == 0;
        // scp upload.
        let (up_t, up_b) = (remote("scp-tool.bin"), remote("scp-bare.bin"));
        let mut timings = [Duration::ZERO; 2];
        for first in [tool_first, !tool_first] {
            if first {
                fresh(&up_t);
                timings[0] = tool(
                    &mut client,
                    "ssh_scp",
                    json!({"target": "testhost", "direction": "upload", "sources": [s(&src)], "destination": s(&up_t)}),
                    bytes,
                )
                .await?;
            } else {
                fresh(&up_b);
                timings[1] = run_bare("scp", &bare_scp(config, master, &s(&src), &host(&up_b)))?;
            }
        }
        scp_up.tool.push(timings[0]);
        scp_up.bare.push(timings[1]);
        // scp download (of the uploaded copy, into fresh local names).
        let (dl_t, dl_b) = (remote("dl-tool.bin"), remote("dl-bare.bin"));
        for first in [tool_first, !tool_first] {
            if first {
                fresh(&dl_t);
                timings[0] = tool(
                    &mut client,
                    "ssh_scp",
                    json!({"target": "testhost", "direction": "download", "sources": [s(&up_t)], "destination": s(&dl_t)}),
                    bytes,
                )
                .await?;
            } else {
                fresh(&dl_b);
                timings[1] = run_bare("scp", &bare_scp(config, master, &host(&up_b), &s(&dl_b)))?;
            }
        }
        scp_down.tool.push(timings[0]);
        scp_down.bare.push(timings[1]);
        for p in [&up_t, &up_b, &dl_t, &dl_b] {
            fresh(p);
        }
        // rsync upload, no compression (the data is incompressible), into fresh names.
        let (ru_t, ru_b) = (remote("rs-tool.bin"), remote("rs-bare.bin"));
        for first in [tool_first, !tool_first] {
            if first {
                fresh(&ru_t);
                timings[0] = tool(
                    &mut client,
                    "ssh_sync",
                    json!({"target": "testhost", "direction": "upload", "source": s(&src), "destination": s(&ru_t), "compress": false}),
                    bytes,
                )
                .await?;
            } else {
                fresh(&ru_b);
                timings[1] =
                    run_bare("rsync", &bare_rsync(config, master, &s(&src), &host(&ru_b)))?;
            }
        }
        rsync_up.tool.push(timings[0]);
        rsync_up.bare.push(timings[1]);
        let (rd_t, rd_b) = (remote("rd-tool.bin"), remote("rd-bare.bin"));
        for first in [tool_first, !tool_first] {
            if first {
                fresh(&rd_t);
                timings[0] = tool(
                    &mut client,
                    "ssh_sync",
                    json!({"target": "testhost", "direction": "download", "source": s(&ru_t), "destination": s(&rd_t), "compress": false}),
                    bytes,
                )
                .await?;
            } else {
                fresh(&rd_b);
                timings[1] = run_bare(
                    "rsync",
                    &bare_rsync(config, master, &host(&ru_b), &s(&rd_b)),
                )?;
            }
        }
        rsync_down.tool.push(timings[0]);
        rsync_down.bare.push(timings[1]);
        for p in [&ru_t, &ru_b, &rd_t, &rd_b] {
            fresh(p);
        }
    }
    client.close().await?;
    let _ = std::fs::remove_dir_all(&dir);

    let mb = bytes as f64 / 1e6;
    let figure = |name: &str, pair: &Pair| {
        let ratio = pair.ratio();
        Figure::value(
            name,
            format!(
                "{ratio:.2}× ({:.0} vs {:.0} ms, {:.0} MB/s)",
                pair.tool.median(),
                pair.bare.median(),
                mb / (pair.tool.median() / 1000.0)
            ),
            pair.tool.len().to_string(),
            &check.text(Goal::AtMost(TARGET_RATIO), "×"),
            Some(check.met(Goal::AtMost(TARGET_RATIO), ratio)),
        )
    };
    Ok(Section {
        title: format!("9. Transfers of {mb:.0} MB: ssh_scp and ssh_sync vs bare scp and rsync"),
        method: format!(
            "A {mb:.0} MB file of incompressible bytes goes up and comes back down, {} rounds. \
             The tools are called through the shim (tools/call request → response) and run on the \
             daemon's ControlMaster (scp in SFTP mode, rsync -s -a --stats without -z); the bare \
             commands (`scp -s`, `rsync -s -a -e 'ssh …'`) run over one of the bench's own \
             ControlMasters, timed from spawn to exit. Each round runs both into fresh \
             destinations, alternating which goes first, each after sync(2) so that the previous \
             copy's writeback does not land on it; the figure is the ratio of the medians.",
            plan.transfer_rounds
        ),
        figures: vec![
            figure("ssh_scp upload / bare scp", &scp_up),
            figure("ssh_scp download / bare scp", &scp_down),
            figure("ssh_sync upload / bare rsync", &rsync_up),
            figure("ssh_sync download / bare rsync", &rsync_down),
        ],
        notes: vec![format!(
            "Bare medians: scp up {:.0} ms, scp down {:.0} ms, rsync up {:.0} ms, rsync down {:.0} ms; \
             tool ranges: {}, {}, {}, {}.",
            scp_up.bare.median(),
            scp_down.bare.median(),
            rsync_up.bare.median(),
            rsync_down.bare.median(),
            scp_up.tool.range(),
            scp_down.tool.range(),
            rsync_up.tool.range(),
            rsync_down.tool.range()
        )],
    })
}
