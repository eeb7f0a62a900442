//! Numbers to text: sample statistics (median, min, max), the targets and how strictly they are
//! checked (the full bench holds every figure to its target; the quick bench allows twice as bad),
//! the figures with PASS/FAIL, the machine description, the results table and the BENCHMARKS.md
//! page.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Timing samples of one kind, in milliseconds.
#[derive(Debug, Clone, Default)]
pub struct Samples(Vec<f64>);

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d.as_secs_f64() * 1000.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    pub fn median(&self) -> f64 {
        median(&self.0)
    }

    /// "min–max" in ms.
    pub fn range(&self) -> String {
        let v = self.sorted();
        match (v.first(), v.last()) {
            (Some(a), Some(b)) => format!("{a:.1}–{b:.1} ms"),
            _ => "–".into(),
        }
    }
}

/// The median of `values` (NaN when empty).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The median of the element-wise differences `a[i] - b[i]` (paired samples taken in the same
/// round, so that drift in the machine's load cancels out).
pub fn paired_median(a: &Samples, b: &Samples) -> f64 {
    let d: Vec<f64> = a.0.iter().zip(&b.0).map(|(x, y)| x - y).collect();
    median(&d)
}

/// What a figure must stay within.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    AtMost(f64),
    Below(f64),
    AtLeast(f64),
}

/// How strictly goals are checked: the full bench uses each goal as written; the quick bench
/// (`--quick`, run in CI) calls a regression only past `slack` times a goal (a ratio or a time
/// more than twice its ceiling, a "≥" ratio under half its floor), so that few samples on a busy
/// machine do not fail it, while a real regression still does.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    slack: f64,
}

impl Check {
    pub const FULL: Self = Self { slack: 1.0 };
    pub const QUICK: Self = Self { slack: 2.0 };

    fn limit(self, goal: Goal) -> Goal {
        match goal {
            Goal::AtMost(t) => Goal::AtMost(t * self.slack),
            Goal::Below(t) => Goal::Below(t * self.slack),
            Goal::AtLeast(t) => Goal::AtLeast(t / self.slack),
        }
    }

    /// Whether `value` meets `goal`, with this check's slack.
    pub fn met(self, goal: Goal, value: f64) -> bool {
        match self.limit(goal) {
            Goal::AtMost(t) => value <= t,
            Goal::Below(t) => value < t,
            Goal::AtLeast(t) => value >= t,
        }
    }

    /// The goal as the table shows it, e.g. "≤ 1.3×", or "≤ 1.3× (quick: ≤ 2.6×)".
    pub fn text(self, goal: Goal, unit: &str) -> String {
        let plain = |g: Goal| match g {
            Goal::AtMost(t) => format!("≤ {}{unit}", trim(t)),
            Goal::Below(t) => format!("< {}{unit}", trim(t)),
            Goal::AtLeast(t) => format!("≥ {}{unit}", trim(t)),
        };
        if self.slack == 1.0 {
            plain(goal)
        } else {
            format!("{} (quick: {})", plain(goal), plain(self.limit(goal)))
        }
    }
}

/// A goal's number without needless decimals (1.3, 2.5, 15, 64).
fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// One line of the results table.
#[derive(Debug, Clone)]
pub struct Figure {
    pub name: String,
    pub value: String,
    pub samples: String,
    pub spread: String,
    pub target: String,
    /// None: reported for context, no target.
    pub pass: Option<bool>,
}

impl Figure {
    /// A median of timing samples.
    pub fn timing(name: &str, s: &Samples, target: &str, pass: Option<bool>) -> Self {
        Self {
            name: name.into(),
            value: format!("{:.2} ms", s.median()),
            samples: s.len().to_string(),
            spread: s.range(),
            target: target.into(),
            pass,
        }
    }

    /// Anything else (a ratio, a size, a count).
    pub fn value(
        name: &str,
        value: String,
        samples: String,
        target: &str,
        pass: Option<bool>,
    ) -> Self {
        Self {
            name: name.into(),
            value,
            samples,
            spread: String::new(),
            target: target.into(),
            pass,
        }
    }
}

/// One benchmark: its figures and the notes that explain them.
#[derive(Debug, Clone, Default)]
pub struct Section {
    pub title: String,
    pub method: String,
    pub figures: Vec<Figure>,
    pub notes: Vec<String>,
}

/// What the page says about where it ran.
#[derive(Debug, Clone)]
pub struct Machine {
    pub date: String,
    pub nproc: usize,
    pub cpu: String,
    pub kernel: String,
    pub openssh: String,
    pub load_start: String,
    /// The commit the binaries were built from.
    pub revision: String,
}

impl Machine {
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == "model name").then(|| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let openssh = std::process::Command::new("ssh")
            .arg("-V")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned())
            .unwrap_or_else(|e| format!("unknown ({e})"));
        Self {
            date: utc_now(),
            nproc: std::thread::available_parallelism().map_or(0, usize::from),
            cpu,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
            openssh,
            load_start: loadavg(),
            revision: revision(),
        }
    }
}

/// The whole BENCHMARKS.md page.
pub fn page(machine: &Machine, command: &str, sections: &[Section], total: Duration) -> String {
    let mut out = String::new();
    let (checked, passed) = tally(sections);
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Written by `bash scripts/bench.sh`; do not edit by hand, run it again.\n"
    );
    let _ = writeln!(out, "- Date: {}", machine.date);
    let _ = writeln!(out, "- Command: {command}");
    let _ = writeln!(out, "- Revision: {}", machine.revision);
    let _ = writeln!(
        out,
        "- Machine: {} CPUs (nproc), {}, Linux {}",
        machine.nproc, machine.cpu, machine.kernel
    );
    let _ = writeln!(out, "- OpenSSH: {}", machine.openssh);
    let _ = writeln!(
        out,
        "- Server: a throwaway `sshd -D -e` on 127.0.0.1 started by the bench, MaxSessions and \
         MaxStartups at their defaults (10, 10:30:100), with `SetEnv SHLVL=1`: Debian's bash \
         sources ~/.bashrc for every command sshd runs, and this keeps the account's shell \
         start-up out of the figures (shim and bare runs alike)"
    );
    let _ = writeln!(
        out,
        "- Load average (1/5/15 min) at start: {}; at end: {}",
        machine.load_start,
        loadavg()
    );
    let _ = writeln!(
        out,
        "- Result: {passed} of {checked} targets met; whole run {:.0} s\n",
        total.as_secs_f64()
    );
    out.push_str(&table(sections));
    for s in sections {
        let _ = writeln!(out, "\n## {}\n\n{}", s.title, s.method);
        if !s.notes.is_empty() {
            out.push('\n');
            for n in &s.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
    }
    out
}

/// How many figures have a target, and how many of those met it.
pub fn tally(sections: &[Section]) -> (usize, usize) {
    let all = sections.iter().flat_map(|s| &s.figures);
    let checked = all.clone().filter(|f| f.pass.is_some()).count();
    let passed = all.filter(|f| f.pass == Some(true)).count();
    (checked, passed)
}

/// The results table (Markdown), one line per figure.
pub fn table(sections: &[Section]) -> String {
    let mut out = String::from(
        "| Figure | Median | Samples | Min–max | Target | Result |\n|---|---|---|---|---|---|\n",
    );
    for f in sections.iter().flat_map(|s| &s.figures) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            f.name,
            f.value,
            f.samples,
            f.spread,
            f.target,
            verdict(f.pass)
        );
    }
    out
}

/// The commit checked out, and whether the work tree differs from it.
fn revision() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(head) => {
            // Only what the measured binaries are built from.
            let dirty = git(&[
                "status",
                "--porcelain",
                "--",
                "src",
                "wire",
                "daemon",
                "shim",
                "Cargo.toml",
                "Cargo.lock",
            ])
            .is_some_and(|s| !s.is_empty());
            if dirty {
                format!(
                    "{head} (with uncommitted changes under src, wire, daemon, shim or the manifests)"
                )
            } else {
                head
            }
        }
        None => "unknown (not a git checkout)".into(),
    }
}

/// The first three fields of /proc/loadavg.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn verdict(pass: Option<bool>) -> &'static str {
    match pass {
        Some(true) => "PASS",
        Some(false) => "**FAIL**",
        None => "",
    }
}

/// Now as "YYYY-MM-DD HH:MM UTC".
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3600,
        (rest % 3600) / 60
    )
}
