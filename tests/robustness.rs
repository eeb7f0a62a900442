//! Adversarial tests: hostile input at every layer must be refused or survived, never obeyed.
//!
//! - [`requests`]: malformed and extreme RunRequests; the daemon answers each one and keeps its
//!   pid. [`payloads`]: Exec/Run payloads that are not protobuf RunRequests at all.
//! - [`transport`]: bytes that are not HTTP/2, clients that never speak, floods of connections and
//!   of reset streams.
//! - [`parser`]: property tests of the `extra_ssh_args` allowlist, against an independent reading
//!   of ssh's getopt and of what the argv builder emits; [`targets`]: the same for targets;
//!   [`ssh_g`]: what OpenSSH itself (`ssh -G`) makes of every accepted list, in each command line
//!   the argv builder writes.
//! - [`quoting`]: random bytes as env values and cwd reach a real remote shell unchanged.
//! - [`cancellation`]: a storm of concurrent calls, half of them dropped at random moments.
//! - [`connect_timeout`]: servers that accept TCP and then say nothing.
//! - [`regressions`]: a stalled link, and output that must not be lost under concurrency.
//!
//! Randomness comes from [`Rng`], with a fixed default seed so that a failure reproduces; set
//! `ROBUSTNESS_SEED` to explore others. Randomised tests name their seed when they fail.

mod cancellation;
mod connect_timeout;
mod parser;
mod payloads;
mod quoting;
mod regressions;
mod requests;
mod ssh_g;
mod targets;
mod transport;

use std::time::{Duration, Instant};

use ssh_mcp_core::pb::exec_client::ExecClient;
use ssh_mcp_core::pb::{self, RunRequest, run_event::Event};

use crate::support::daemon::Daemon;

/// A small deterministic generator (SplitMix64): enough for test inputs, no crate needed.
pub struct Rng {
    state: u64,
    seed: u64,
}

impl Rng {
    /// A generator for one test: the seed is `ROBUSTNESS_SEED` when set, else 0, mixed with the
    /// test's own `salt` so that each test draws its own sequence.
    pub fn for_test(salt: u64) -> Self {
        let seed = std::env::var("ROBUSTNESS_SEED")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        Self {
            state: seed ^ salt,
            seed,
        }
    }

    /// The `ROBUSTNESS_SEED` that reproduces this run.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// `s` with each ASCII letter in a random case.
    pub fn random_case(&mut self, s: &str) -> String {
        s.chars()
            .map(|c| {
                if self.percent(50) {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    }

    /// A string of `min..=max` characters drawn from `alphabet`.
    pub fn string_from(&mut self, alphabet: &[char], min: usize, max: usize) -> String {
        let len = min + self.below(max - min + 1);
        (0..len).map(|_| *self.pick(alphabet)).collect()
    }
}

/// Runs `req` and returns every progress event with the final result.
pub async fn run_events(
    d: &Daemon,
    req: RunRequest,
) -> Result<(Vec<pb::Progress>, pb::Finished), tonic::Status> {
    let mut stream = ExecClient::new(d.channel().await)
        .run(req)
        .await?
        .into_inner();
    let mut progress = Vec::new();
    while let Some(ev) = stream.message().await? {
        match ev.event {
            Some(Event::Progress(p)) => progress.push(p),
            Some(Event::Finished(f)) => return Ok((progress, f)),
            None => {}
        }
    }
    Err(tonic::Status::internal("stream ended without a result"))
}

/// Polls the daemon's Status until `cond` holds or `limit` passes; returns the last reply and
/// whether it held.
pub async fn wait_for_status(
    d: &Daemon,
    limit: Duration,
    cond: impl Fn(&pb::StatusReply) -> bool,
) -> (pb::StatusReply, bool) {
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_millis(5);
    loop {
        let status = d.status().await;
        if cond(&status) {
            return (status, true);
        }
        if Instant::now() > deadline {
            return (status, false);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// The daemon is still the same live process, answers Status, and runs a command.
pub async fn assert_daemon_healthy(d: &mut Daemon, original_pid: u32) {
    let child = d.child.as_mut().expect("daemon handle");
    assert!(
        matches!(child.try_wait(), Ok(None)),
        "ssh-mcpd exited; log:\n{}",
        d.log()
    );
    let status = d.status().await;
    assert_eq!(status.pid, original_pid, "the daemon was replaced");
    let f = d
        .exec(crate::support::daemon::run_request("echo still-alive"))
        .await
        .expect("a good command still runs");
    assert_eq!(f.stdout, b"still-alive\n");
    assert_eq!(f.exit_code, Some(0));
    let log = d.log();
    assert!(
        !log.contains("panicked"),
        "a task of the daemon panicked; log:\n{log}"
    );
}
