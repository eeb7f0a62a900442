//! Benchmark 6, a flood through a session: a fresh daemon, one `/bin/sh` session, a typed command
//! that prints hundreds of MB and then an end marker, drained with `ssh_read_session` at its
//! largest `max_output_chars` until the marker. The figures: the production rate (bytes until the
//! marker's read), what the reader received and what the 4 MiB ring dropped for it, the daemon's
//! peak RSS, and that other calls are answered during the flood.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde_json::json;

use crate::bare::{self, Master};
use crate::daemon;
use crate::env::BenchEnv;
use crate::pinning;
use crate::plan::Plan;
use crate::report::{Figure, Goal, Section};
use crate::session_tools::{self, clip, flag, number, text};

/// The production rate through session reads, against bare `ssh -tt` over a master.
const MIN_RATIO_TO_BARE: f64 = 0.8;
const MAX_HWM_MIB: f64 = 64.0;
/// The largest read the session tools allow.
const READ_CHARS: u64 = 1_048_576;
/// The shell computes it, so the terminal's echo of the typed line (`$((6*7))-END`) never holds it.
const MARKER: &str = "42-END";
/// The flood gives up past this (a producer at 2 MB/s would still finish).
const FLOOD_DEADLINE: Duration = Duration::from_secs(120);

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// The last `n` characters of `s` (enough to find a marker split across two reads), found from
/// the end: the reader's own work must not grow with the megabyte it has just read.
fn tail(s: &str, n: usize) -> String {
    if n == 0 {
        return String::new();
    }
    let start = s.char_indices().rev().nth(n - 1).map_or(0, |(i, _)| i);
    s[start..].to_owned()
}

async fn one_flood(bytes: u64, env: &BenchEnv, master: &Master) -> anyhow::Result<Flood> {
    let (mut client, old) = session_tools::restart_daemon(env).await?;
    let sid = session_tools::start(&mut client).await?;
    let pid = session_tools::new_daemon_pid(env, old)?;
    let hwm_before = daemon::status_kb(pid, "VmHWM")?;
    session_tools::drain(&mut client, &sid).await?;

    let command = format!("head -c {bytes} /dev/zero | tr '\\0' x; echo; echo $((6*7))-END\n");
    let shim_pid = client.pid().context("the shim has exited")?;
    let cpu_before = (daemon::cpu_seconds(pid)?, daemon::cpu_seconds(shim_pid)?);
    let started = Instant::now();
    let (w, _) = client
        .call_timed(
            "ssh_write_session",
            json!({"session_id": &sid, "input": &command, "wait_seconds": 0}),
        )
        .await?;
    ensure!(
        number(&w, "bytes_written")? == command.len() as u64,
        "the flood's command was not written whole: {}",
        clip(&w)
    );
    let first_offset = number(&w, "output_offset")?;
    let mut received = number(&w, "next_offset")? - first_offset;
    let mut dropped = number(&w, "dropped_bytes")?;
    let mut last_offset = number(&w, "next_offset")?;
    let mut seen = text(&w, "output")?.to_owned();
    let (mut reads, mut slowest, mut list_took) = (0usize, Duration::ZERO, None);
    let mut contiguous = true;
    while !seen.contains(MARKER) {
        ensure!(
            started.elapsed() < FLOOD_DEADLINE,
            "no {MARKER:?} within {FLOOD_DEADLINE:?}: {received} bytes received, {dropped} \
             dropped, last output {:?}",
            tail(&seen, 200)
        );
        let (r, took) = client
            .call_timed(
                "ssh_read_session",
                json!({"session_id": &sid, "wait_seconds": 1, "max_output_chars": READ_CHARS}),
            )
            .await?;
        reads += 1;
        slowest = slowest.max(took);
        let (from, to) = (number(&r, "output_offset")?, number(&r, "next_offset")?);
        let lost = number(&r, "dropped_bytes")?;
        contiguous &= from == last_offset + lost;
        (received, dropped, last_offset) = (received + (to - from), dropped + lost, to);
        seen = tail(&seen, 64) + text(&r, "output")?;
        ensure!(
            flag(&r, "running") || seen.contains(MARKER),
            "the session ended during the flood: {}",
            clip(&r)
        );
        if reads == 2 {
            // Another call while the flood runs: the daemon must answer it.
            let (l, t) = client
                .call_timed("ssh_list_sessions", json!({"include_exited": false}))
                .await?;
            ensure!(number(&l, "count")? == 1, "ssh_list_sessions: {}", clip(&l));
            list_took = Some(t);
        }
    }
    let until_marker = started.elapsed();
    let daemon_cpu = daemon::cpu_seconds(pid)? - cpu_before.0;
    let shim_cpu = daemon::cpu_seconds(shim_pid)? - cpu_before.1;
    let hwm = daemon::status_kb(pid, "VmHWM")?;
    let rss = daemon::status_kb(pid, "VmRSS")?;
    session_tools::stop(&mut client, &sid).await?;
    client.close().await?;
    // The same output through a terminal with plain OpenSSH: `ssh -tt` over a master.
    let mut tty = vec!["-tt".to_owned()];
    tty.extend(master.command(&format!("head -c {bytes} /dev/zero | tr '\\0' x")));
    let bare_took = bare::run_timed(&tty)?;

    Ok(Flood {
        until_marker,
        bare_took,
        first_offset,
        last_offset,
        received,
        dropped,
        reads,
        contiguous,
        slowest,
        list_took,
        hwm_before,
        hwm,
        rss,
        daemon_cpu,
        shim_cpu,
    })
}

/// What one flood (and its bare run) measured.
struct Flood {
    until_marker: Duration,
    bare_took: Duration,
    first_offset: u64,
    last_offset: u64,
    received: u64,
    dropped: u64,
    reads: usize,
    contiguous: bool,
    slowest: Duration,
    list_took: Option<Duration>,
    hwm_before: u64,
    hwm: u64,
    rss: u64,
    daemon_cpu: f64,
    shim_cpu: f64,
}

impl Flood {
    /// Its production rate over bare `ssh -tt`'s.
    fn ratio(&self) -> f64 {
        self.bare_took.as_secs_f64() / self.until_marker.as_secs_f64().max(1e-9)
    }
}

pub async fn run(plan: &Plan, env: &BenchEnv, master: &Master) -> anyhow::Result<Section> {
    let check = plan.check;
    let bytes = plan.flood_bytes;
    let mb = bytes as f64 / 1e6;
    let mut floods = Vec::new();
    for _ in 0..plan.flood_runs.max(1) {
        floods.push(one_flood(bytes, env, master).await?);
    }
    let ratios: Vec<f64> = floods.iter().map(Flood::ratio).collect();
    let ratio = crate::report::median(&ratios);
    let apart = if plan.quick {
        None
    } else {
        floods_with_server_apart(plan.flood_runs.max(1), bytes, env, master).await?
    };
    let (lo, hi) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    let runs = floods.len();
    // The run whose ratio is the median's (the lower middle one for an even count) gives the
    // other figures; the peak memory is the highest of all runs.
    floods.sort_by(|a, b| a.ratio().total_cmp(&b.ratio()));
    let hwm = floods.iter().map(|f| f.hwm).max().unwrap_or(0);
    let accounted_all = floods.iter().all(|f| {
        let produced = f.last_offset - f.first_offset;
        f.contiguous && f.received + f.dropped == produced && produced >= bytes
    });
    let f = floods.swap_remove((runs - 1) / 2);
    let Flood {
        until_marker,
        bare_took,
        first_offset,
        last_offset,
        received,
        dropped,
        reads,
        contiguous,
        slowest,
        list_took,
        hwm_before,
        rss,
        daemon_cpu,
        shim_cpu,
        ..
    } = f;
    let produced = last_offset - first_offset;
    let accounted = accounted_all;
    let rate = mb / until_marker.as_secs_f64().max(1e-9);
    let bare_rate = mb / bare_took.as_secs_f64().max(1e-9);
    let hwm_mib = hwm as f64 / 1024.0;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Ok(Section {
        title: format!("7. A {mb:.0} MB flood drained through session reads"),
        method: format!(
            "The daemon is stopped and a new MCP session autostarts a fresh one, so that its \
             VmHWM covers this benchmark alone. One session (`/bin/sh`, as in 5); \
             `ssh_write_session` (wait_seconds 0) types `head -c {bytes} /dev/zero | tr '\\0' x; \
             echo; echo $((6*7))-END`, then `ssh_read_session` with max_output_chars {READ_CHARS} \
             (the largest allowed) and wait_seconds 1 is called until the output holds `{MARKER}`. \
             The session's output ring holds 4 MiB: a reader slower than the producer loses the \
             oldest bytes and is told how many (dropped_bytes); the offsets of every read are \
             checked to be contiguous with it. The production rate is {mb:.0} MB over the time \
             from the write being sent to the reply holding the marker. During the flood (after \
             the second read) one `ssh_list_sessions` call is timed: the daemon must answer \
             other calls meanwhile. For context, the same `head | tr` then runs as bare \
             `ssh -tt` (a terminal on the server, as a session has) over one of the bench's \
             ControlMasters with stdout on /dev/null; the target is the ratio of the two rates. The whole (a fresh daemon, the \
             flood, the bare run) is repeated {runs} times and the median ratio counts; the other \
             figures are those of the median run. Then, for context, the same runs again with \
             the bench's sshd and all it starts (the shell, `head | tr`) on the last CPU and \
             everything else (the bench, the shim, the daemon, the ssh masters) on the others \
             (`tests/bench/pinning.rs`): on a real network the server's producer does not share \
             CPUs with the side that reads its output, while here both rates depend on how much \
             CPU the reading leaves to the loopback server. The quick run (`--quick`) floods \
             {:.0} MB once instead, without the second set.",
            Plan::QUICK.flood_bytes as f64 / 1e6
        ),
        figures: vec![
            Figure::value(
                &format!("session flood: production rate, {mb:.0} MB until the marker"),
                format!("{rate:.0} MB/s ({:.0} ms)", ms(until_marker)),
                "1 (the median run)".into(),
                "",
                None,
            ),
            Figure {
                spread: if runs > 1 {
                    format!("{lo:.2}–{hi:.2}×")
                } else {
                    String::new()
                },
                ..Figure::value(
                    "session flood / bare `ssh -tt` over a master (ratio of rates, median of runs)",
                    format!("{ratio:.2}×"),
                    format!("{runs} / {runs}"),
                    &check.text(Goal::AtLeast(MIN_RATIO_TO_BARE), "×"),
                    Some(check.met(Goal::AtLeast(MIN_RATIO_TO_BARE), ratio)),
                )
            },
            match &apart {
                Some(ratios) => Figure {
                    spread: spread(ratios),
                    ..Figure::value(
                        "the same ratio with the bench's sshd on a CPU of its own, as a remote \
                         host's would be (context)",
                        format!("{:.2}×", crate::report::median(ratios)),
                        format!("{0} / {0}", ratios.len()),
                        "",
                        None,
                    )
                },
                None => Figure::value(
                    "the same ratio with the bench's sshd on a CPU of its own (context)",
                    if plan.quick {
                        "not run (quick)".into()
                    } else {
                        "not run (one CPU)".into()
                    },
                    "0".into(),
                    "",
                    None,
                ),
            },
            Figure::value(
                "session flood: daemon VmHWM (highest of the runs)",
                mib(hwm),
                "1".into(),
                &check.text(Goal::Below(MAX_HWM_MIB), " MiB"),
                Some(check.met(Goal::Below(MAX_HWM_MIB), hwm_mib)),
            ),
            Figure::value(
                "session flood: bytes received, dropped_bytes, reads",
                format!("{received}, {dropped}, {reads}"),
                "1".into(),
                "marker seen; received + dropped = produced",
                Some(accounted),
            ),
            Figure::value(
                &format!(
                    "{mb:.0} MB through a terminal, bare `ssh -tt` over ControlMaster to /dev/null"
                ),
                format!("{bare_rate:.0} MB/s ({:.0} ms)", ms(bare_took)),
                "1".into(),
                "",
                None,
            ),
            Figure::value(
                "session flood: slowest read; `ssh_list_sessions` during it (context)",
                format!(
                    "{:.0} ms; {}",
                    ms(slowest),
                    list_took.map_or("not reached (flood over in 2 reads)".into(), |t| format!(
                        "{:.1} ms",
                        ms(t)
                    ))
                ),
                "1".into(),
                "",
                None,
            ),
        ],
        notes: vec![
            format!(
                "Output bytes produced (offsets from the write to the marker): {produced}; the \
                 reader received {received} and was told of {dropped} dropped; offsets \
                 contiguous: {contiguous}."
            ),
            format!(
                "Daemon VmHWM with the session open, before the flood: {}; VmRSS after it: {}.",
                mib(hwm_before),
                mib(rss)
            ),
            format!(
                "CPU time during the {:.2} s until the marker (on {} CPUs shared with ssh, sshd, \
                 the producer and the bench): daemon {daemon_cpu:.2} s, shim {shim_cpu:.2} s. \
                 For comparison, benchmark 4 moves 300 MB through `ssh_exec` (pipes, no \
                 terminal) at several hundred MB/s.",
                until_marker.as_secs_f64(),
                std::thread::available_parallelism().map_or(0, usize::from)
            ),
        ],
    })
}

/// `runs` floods like the judged ones, with the bench's sshd on a CPU apart from everything else
/// (`pinning.rs`): their ratios, or `None` when this process has a single CPU.
async fn floods_with_server_apart(
    runs: usize,
    bytes: u64,
    env: &BenchEnv,
    master: &Master,
) -> anyhow::Result<Option<Vec<f64>>> {
    let Some(pinned) = pinning::server_apart(&env.sshd_dir(), &[master.pid()])? else {
        return Ok(None);
    };
    let mut ratios = Vec::with_capacity(runs);
    for _ in 0..runs {
        ratios.push(one_flood(bytes, env, master).await?.ratio());
    }
    drop(pinned);
    // The last run's daemon and its masters were started on the bench's CPUs only; the next
    // benchmark starts a daemon of its own.
    daemon::stop(env)?;
    Ok(Some(ratios))
}

/// The lowest and highest of `ratios`, as the table shows a spread.
fn spread(ratios: &[f64]) -> String {
    let lo = ratios.iter().copied().fold(f64::MAX, f64::min);
    let hi = ratios.iter().copied().fold(f64::MIN, f64::max);
    format!("{lo:.2}–{hi:.2}×")
}
