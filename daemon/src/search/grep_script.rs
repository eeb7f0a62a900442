//! The POSIX sh script ssh_grep runs on the host (through `exec::script_spec`, so any login shell
//! will do). Every agent value in it is quoted with `sh_quote`. It is the seed's script, plus:
//!
//! - `--null`, so a file name is followed by a NUL and `a:12:b.txt` or a name with a newline
//!   parses exactly;
//! - marker lines on stderr naming the regex flavour (first) and grep's exit status (last), so
//!   grep exiting 2 for one unreadable file keeps the other matches;
//! - a limit on the host: with `head_limit`, output stops after `head_limit + 1` records (one
//!   more, to know there were more), counted by the NUL each record holds, and every request
//!   stops at a byte cap, so a huge result never crosses the wire.

use ssh_mcp_core::ssh::remote::quote::sh_quote;

use super::grep_spec::{GrepSpec, OutputMode};

/// The script's exit status when `path` does not exist (the seed's code).
pub const MISSING_PATH_EXIT: i32 = 21;
/// First stderr line: `sshmcp-grep-flavor -P` or `-E`.
pub const FLAVOR_MARK: &str = "sshmcp-grep-flavor ";
/// Last stderr line: grep's exit status.
pub const STATUS_MARK: &str = "sshmcp-grep-status ";

/// How many records the host may send: one past `head_limit`, when the host can count them.
/// Counts come one line per file, zero counts included (they are dropped here), and a glob with
/// `/` is matched here, so in those cases only the byte cap applies.
pub fn record_limit(spec: &GrepSpec) -> Option<usize> {
    let limit = spec.head_limit?;
    (spec.mode != OutputMode::Count && !spec.filters_locally()).then(|| limit.saturating_add(1))
}

/// The script for `spec`; stdout stops after `byte_cap + 1` bytes.
pub fn script(spec: &GrepSpec, byte_cap: usize) -> String {
    let mut args = spec.grep_flags();
    args.push("--".into());
    args.push(spec.pattern.clone());
    let args: Vec<String> = args.iter().map(|a| sh_quote(a)).collect();
    // Each record holds exactly one NUL (after its file name; group separators hold none), so
    // with NUL and newline swapped, `head -n` counts records; they are swapped back after.
    let records = match record_limit(spec) {
        Some(n) => format!(" | tr '\\000\\n' '\\n\\000' | head -n {n} | tr '\\000\\n' '\\n\\000'"),
        None => String::new(),
    };
    format!(
        "P={path}\n\
         if [ ! -e \"$P\" ]; then exit {MISSING_PATH_EXIT}; fi\n\
         GREP=grep\n\
         if command -v ggrep >/dev/null 2>&1; then GREP=ggrep; fi\n\
         if printf 'x\\n' | \"$GREP\" -P x >/dev/null 2>&1; then FLAG=-P; else FLAG=-E; fi\n\
         echo \"{FLAVOR_MARK}$FLAG\" >&2\n\
         if printf x | head -c 1 >/dev/null 2>&1; then cap() {{ head -c {cap}; }}; else cap() {{ cat; }}; fi\n\
         {{ \"$GREP\" -r -I -H --null \"$FLAG\" --exclude-dir=.git --exclude-dir=.hg --exclude-dir=.svn {args} \"$P\"; \
         echo \"{STATUS_MARK}$?\" >&2; }}{records} | cap\n",
        path = sh_quote(&spec.path),
        cap = byte_cap + 1,
        args = args.join(" "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::grep_spec::RawGrep;

    fn spec(pattern: &str, path: &str, mode: &str, head_limit: Option<u32>) -> GrepSpec {
        GrepSpec::parse(
            crate::door::test_common("h"),
            RawGrep {
                pattern: pattern.into(),
                path: Some(path.into()),
                output_mode: mode.into(),
                head_limit,
                ..Default::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn agent_values_are_quoted_and_the_pattern_follows_a_double_dash() {
        let s = script(&spec("-v it's $(id)", "/srv/a b", "", None), 100);
        assert!(s.starts_with("P='/srv/a b'\n"), "{s}");
        assert!(s.contains(r#" -l -- '-v it'"'"'s $(id)' "$P";"#), "{s}");
        assert!(s.contains("cap() { head -c 101; }"), "{s}");
        assert!(
            !s.contains("head -n"),
            "no record limit without head_limit: {s}"
        );
    }

    #[test]
    fn the_record_limit_is_one_past_head_limit_where_the_host_can_count() {
        let s = script(&spec("x", ".", "content", Some(5)), 100);
        assert!(s.contains("| head -n 6 |"), "{s}");
        assert!(s.contains(r"tr '\000\n' '\n\000'"), "{s}");
        assert_eq!(record_limit(&spec("x", ".", "", Some(1))), Some(2));
        assert_eq!(record_limit(&spec("x", ".", "count", Some(1))), None);
        let mut globbed = spec("x", ".", "", Some(1));
        globbed.filter = Some(crate::search::grep_spec::GlobFilter::parse("a/*.rs").unwrap());
        assert_eq!(record_limit(&globbed), None);
    }

    /// The script as sh reads it, with a local directory standing in for the host (the e2e tests
    /// run it on a real one).
    #[test]
    #[allow(
        clippy::disallowed_methods,
        reason = "runs the script in the local sh to check its syntax and output"
    )]
    fn the_script_runs_in_sh() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a:1:b.txt"), "hit\nmiss\nhit\n").unwrap();
        std::fs::create_dir(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join(".git/x"), "hit\n").unwrap();
        let path = dir.path().display().to_string();
        let run = |s: &GrepSpec| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(script(s, 1 << 20))
                .output()
                .unwrap()
        };
        let out = run(&spec("hit", &path, "content", Some(1)));
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            stdout,
            format!("{path}/a:1:b.txt\x001:hit\n{path}/a:1:b.txt\0")
        );
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.starts_with(FLAVOR_MARK), "{stderr}");
        assert!(stderr.contains(STATUS_MARK), "{stderr}");
        let missing = run(&spec("hit", &format!("{path}/nope"), "", None));
        assert_eq!(missing.status.code(), Some(MISSING_PATH_EXIT));
    }
}
