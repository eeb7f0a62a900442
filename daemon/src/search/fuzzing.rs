//! The functions the fuzz targets `glob_pattern` and `grep_output` in `fuzz/` call (feature
//! `fuzzing`), one per target, each with the properties it checks beyond "no panic" (the
//! daemon's half of `tool_args` is `grpc/fuzzing.rs`, the layer that reads wire types). The unit tests below replay each target's
//! committed corpus (`fuzz/corpus/<target>/`) through the same function on stable Rust.
//!
//! A fuzz oracle fails by panicking, so the daemon's lints against panics do not apply here;
//! nothing on a request path calls this module.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use crate::search::glob_pattern::GlobPattern;
use crate::search::grep_output::{self, Record};
use crate::search::grep_spec::OutputMode;

/// `fuzz_targets/glob_pattern.rs`: a glob on the first line, a relative path on the second.
/// Only the public compile and match API is used (its insides are being rewritten). A path the
/// glob matches lies under directories the walk must enter: each of them `may_match_under`.
pub fn glob_pattern(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (pattern, path) = text.split_once('\n').unwrap_or((&text, ""));
    let Ok(glob) = GlobPattern::parse(pattern) else {
        return;
    };
    if !glob.matches(path) {
        return;
    }
    let names: Vec<&str> = path.split('/').collect();
    for depth in 1..names.len() {
        let dir = names[..depth].join("/");
        assert!(
            glob.may_match_under(&dir),
            "{pattern:?} matches {path:?}, but the walk would not enter {dir:?}"
        );
    }
}

/// `fuzz_targets/grep_output.rs`: the first byte picks the output mode and the search path;
/// the rest is read both as grep's stdout and as the script's stderr. Every record ends where
/// grep's does, so no path holds a NUL and no line a newline.
pub fn grep_output(data: &[u8]) {
    let Some((&selector, out)) = data.split_first() else {
        return;
    };
    let mode = match selector % 3 {
        0 => OutputMode::FilesWithMatches,
        1 => OutputMode::Count,
        _ => OutputMode::Content,
    };
    // A search path that starts like a group separator changes how `--` lines are read.
    let search_path = if selector & 4 == 0 { "." } else { "--\nsrc" };
    let records = grep_output::parse_stdout(mode, out, search_path);
    for record in &records.records {
        assert!(!record.path().contains('\0'), "{record:?}");
        match record {
            Record::Line { line, .. } => assert!(!line.contains('\n'), "{record:?}"),
            Record::Count { count, .. } => assert_ne!(*count, 0, "{record:?}"),
            Record::File(_) => {}
        }
    }
    if mode == OutputMode::FilesWithMatches && !records.cut {
        let names = out.iter().filter(|&&b| b == 0).count();
        assert_eq!(
            records.records.len(),
            names,
            "one record per NUL-ended name"
        );
    }
    let report = grep_output::parse_stderr(out, search_path);
    for error in &report.errors {
        assert!(error.path.starts_with(search_path), "{report:?}");
    }
}

#[cfg(test)]
mod tests {
    use ssh_mcp_core::fuzzing::replay_corpus;

    use super::*;

    #[test]
    fn the_glob_pattern_corpus_replays() {
        assert!(replay_corpus("glob_pattern", glob_pattern) > 0);
    }

    #[test]
    fn the_grep_output_corpus_replays() {
        assert!(replay_corpus("grep_output", grep_output) > 0);
    }
}
