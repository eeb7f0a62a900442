//! How much the bench measures and how strictly it judges: the full run that writes
//! BENCHMARKS.md, or the quick run (`--quick`, in CI) with few samples and twice the slack, which
//! only says whether a figure regressed.

use crate::report::Check;

#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub quick: bool,
    pub check: Check,
    /// Benchmark 1: rounds, and how many of them also time a fresh connection.
    pub latency_rounds: usize,
    pub latency_fresh: usize,
    /// Benchmark 2: timed rounds of each kind.
    pub parallel_repeats: usize,
    /// Benchmark 3: timed shim start-ups.
    pub startup_runs: usize,
    /// Benchmark 5: timed `ssh_run_in_session` echoes, and timed write-then-read echoes.
    pub session_run_rounds: usize,
    pub session_write_rounds: usize,
    /// Benchmark 6: bytes the flood prints, and floods (each with its bare `ssh -tt` run).
    pub flood_bytes: u64,
    pub flood_runs: usize,
    /// Benchmark 7: sessions opened at once.
    pub idle_sessions: usize,
    /// Benchmark 8: the file each transfer moves, and rounds of the eight transfers.
    pub transfer_bytes: u64,
    pub transfer_rounds: usize,
    /// Files: timed rounds of each of the view and edit calls.
    pub files_rounds: usize,
    /// Benchmark 11: calls each of the fifty clients makes per round, and timed rounds.
    pub load_calls: usize,
    pub load_rounds: usize,
}

impl Plan {
    pub const FULL: Self = Self {
        quick: false,
        check: Check::FULL,
        latency_rounds: 100,
        latency_fresh: 20,
        parallel_repeats: 7,
        startup_runs: 30,
        session_run_rounds: 100,
        session_write_rounds: 20,
        flood_bytes: 200_000_000,
        // Five: one flood's ratio swings by about 0.1x from run to run (0.68x to 0.82x in five
        // runs on one quiet machine), as much as the distance to its target.
        flood_runs: 5,
        idle_sessions: 100,
        transfer_bytes: 200_000_000,
        // Eleven: a 200 MB copy over loopback swings by tens of milliseconds from one copy to the
        // next (two cores shared by scp, ssh, sshd and sftp-server), as much as the ratio's margin;
        // with seven, the ratio of medians still moved between 0.90x and 1.15x from run to run.
        transfer_rounds: 11,
        files_rounds: 30,
        load_calls: 20,
        load_rounds: 5,
    };

    pub const QUICK: Self = Self {
        quick: true,
        check: Check::QUICK,
        latency_rounds: 50,
        latency_fresh: 5,
        parallel_repeats: 2,
        startup_runs: 10,
        session_run_rounds: 20,
        session_write_rounds: 5,
        flood_bytes: 50_000_000,
        flood_runs: 1,
        idle_sessions: 30,
        transfer_bytes: 20_000_000,
        // Three: one 20 MB sample is at the mercy of the page cache and the other tenants.
        transfer_rounds: 3,
        files_rounds: 8,
        load_calls: 10,
        load_rounds: 1,
    };
}
