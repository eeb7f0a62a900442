//! [`GrepSpec`]: an ssh_grep request, validated with the seed's rules and messages: the output
//! mode, context only in content mode (`context` overriding both sides), the glob filter and its
//! two forms (a name glob goes to grep's `--include`; a glob with `/` is matched against the
//! path under `path` here, with ssh_glob's matcher).

use std::path::PathBuf;
use std::time::Duration;

use ssh_mcp_core::ssh::InvalidInput;
use ssh_mcp_core::ssh::options::connection::Connection;

use super::glob_pattern::{GlobPattern, expand_braces, without_dot_slash};
use super::search_args;
use crate::door::Common;

/// The most bytes `pattern`, `path` and `glob` may hold together: the script goes to the host as
/// one argument of at most 128 KiB, and bytes that some login shell would change travel as
/// four-byte escapes.
pub const MAX_ARGUMENT_BYTES: usize = 24 * 1024;

/// An ssh_grep request as the agent sent it (plain fields, no wire types).
#[derive(Debug, Clone, Default)]
pub struct RawGrep {
    pub pattern: String,
    pub path: Option<String>,
    pub glob: Option<String>,
    pub case_insensitive: bool,
    /// `files_with_matches` (also when empty), `content` or `count`.
    pub output_mode: String,
    pub context: Option<u32>,
    pub context_before: Option<u32>,
    pub context_after: Option<u32>,
    pub head_limit: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    FilesWithMatches,
    Content,
    Count,
}

impl OutputMode {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        match raw.trim() {
            "" | "files_with_matches" => Ok(Self::FilesWithMatches),
            "content" => Ok(Self::Content),
            "count" => Ok(Self::Count),
            _ => Err(InvalidInput::new(
                "'output_mode' must be one of: content, count, files_with_matches.",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FilesWithMatches => "files_with_matches",
            Self::Content => "content",
            Self::Count => "count",
        }
    }
}

/// Which files a glob lets through.
#[derive(Debug, Clone)]
pub struct GlobFilter {
    /// Names for grep's `--include` (matched against file names); empty: no `--include`.
    pub include: Vec<String>,
    /// The whole glob, matched here against each result's path under `path`, when it names
    /// paths (holds a `/`); `--include` then only narrows the search by the last segment.
    pub paths: Option<GlobPattern>,
}

impl GlobFilter {
    pub fn parse(glob: &str) -> Result<Self, InvalidInput> {
        let alternatives: Vec<String> = expand_braces(glob)?
            .iter()
            .map(|a| without_dot_slash(a).to_owned())
            .collect();
        let pattern = GlobPattern::parse(glob)?;
        if !pattern.has_slash() {
            return Ok(Self {
                include: alternatives,
                paths: None,
            });
        }
        // The last segment of every alternative narrows the search by name; `**` there lets
        // every name through, so then nothing can be narrowed.
        let names: Vec<String> = alternatives
            .iter()
            .map(|a| a.rsplit('/').next().unwrap_or(a).to_owned())
            .collect();
        let include = if names.iter().any(|n| n == "**" || n.is_empty()) {
            Vec::new()
        } else {
            let mut unique = Vec::new();
            for n in names {
                if !unique.contains(&n) {
                    unique.push(n);
                }
            }
            unique
        };
        Ok(Self {
            include,
            paths: Some(pattern),
        })
    }
}

/// A validated ssh_grep request.
#[derive(Debug, Clone)]
pub struct GrepSpec {
    pub conn: Connection,
    pub auth_sock: Option<PathBuf>,
    pub pattern: String,
    /// The remote file or directory, as given (default `.`).
    pub path: String,
    pub glob: Option<String>,
    pub filter: Option<GlobFilter>,
    pub case_insensitive: bool,
    pub mode: OutputMode,
    pub before: u32,
    pub after: u32,
    pub head_limit: Option<usize>,
    pub timeout: Option<Duration>,
}

impl GrepSpec {
    pub fn parse(common: Common, raw: RawGrep) -> Result<Self, InvalidInput> {
        let pattern = search_args::required("pattern", &raw.pattern)?;
        let path =
            search_args::optional("path", raw.path.as_deref())?.unwrap_or_else(|| ".".into());
        let glob = search_args::optional("glob", raw.glob.as_deref())?;
        let given = pattern.len() + path.len() + glob.as_deref().map_or(0, str::len);
        if given > MAX_ARGUMENT_BYTES {
            return Err(InvalidInput(format!(
                "'pattern', 'path' and 'glob' hold {given} bytes together; at most \
                 {MAX_ARGUMENT_BYTES} fit in the remote command"
            )));
        }
        let filter = glob.as_deref().map(GlobFilter::parse).transpose()?;
        let mode = OutputMode::parse(&raw.output_mode)?;
        let (before, after) = match raw.context {
            Some(c) => (c, c),
            None => (
                raw.context_before.unwrap_or(0),
                raw.context_after.unwrap_or(0),
            ),
        };
        if mode != OutputMode::Content && (before > 0 || after > 0) {
            return Err(InvalidInput::new(
                "'context'/'context_before'/'context_after' only apply when output_mode is 'content'.",
            ));
        }
        Ok(Self {
            conn: common.conn,
            auth_sock: common.auth_sock,
            pattern,
            path,
            glob,
            filter,
            case_insensitive: raw.case_insensitive,
            mode,
            before,
            after,
            head_limit: search_args::head_limit(raw.head_limit)?,
            timeout: common.timeout,
        })
    }

    /// grep's own flags for this request, before `--` and the pattern.
    pub fn grep_flags(&self) -> Vec<String> {
        let mut flags: Vec<String> = Vec::new();
        match self.mode {
            OutputMode::FilesWithMatches => flags.push("-l".into()),
            OutputMode::Count => flags.push("-c".into()),
            OutputMode::Content => {
                flags.push("-n".into());
                if self.before > 0 && self.before == self.after {
                    flags.extend(["-C".into(), self.before.to_string()]);
                } else {
                    if self.before > 0 {
                        flags.extend(["-B".into(), self.before.to_string()]);
                    }
                    if self.after > 0 {
                        flags.extend(["-A".into(), self.after.to_string()]);
                    }
                }
            }
        }
        if self.case_insensitive {
            flags.push("-i".into());
        }
        for name in self.filter.iter().flat_map(|f| &f.include) {
            flags.extend(["--include".into(), name.clone()]);
        }
        flags
    }

    /// Whether results are filtered here (a glob with `/`), so the host cannot stop at the limit.
    pub fn filters_locally(&self) -> bool {
        self.filter.as_ref().is_some_and(|f| f.paths.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(mode: &str) -> RawGrep {
        RawGrep {
            pattern: "x".into(),
            output_mode: mode.into(),
            ..Default::default()
        }
    }

    fn spec(r: RawGrep) -> Result<GrepSpec, InvalidInput> {
        GrepSpec::parse(crate::door::test_common("h"), r)
    }

    #[test]
    fn defaults_follow_the_seed() {
        let s = spec(raw("")).unwrap();
        assert_eq!(s.path, ".");
        assert_eq!(s.mode, OutputMode::FilesWithMatches);
        assert_eq!(s.grep_flags(), ["-l"]);
        assert_eq!((s.head_limit, s.timeout), (None, None));
        assert!(!s.filters_locally());
    }

    #[test]
    fn context_flags_in_content_mode() {
        let mut r = raw("content");
        r.context = Some(2);
        r.context_before = Some(5);
        assert_eq!(spec(r).unwrap().grep_flags(), ["-n", "-C", "2"]);
        let mut r = raw("content");
        r.context_before = Some(1);
        r.context_after = Some(3);
        r.case_insensitive = true;
        assert_eq!(
            spec(r).unwrap().grep_flags(),
            ["-n", "-B", "1", "-A", "3", "-i"]
        );
        let mut r = raw("content");
        r.context_after = Some(1);
        assert_eq!(spec(r).unwrap().grep_flags(), ["-n", "-A", "1"]);
        assert_eq!(spec(raw("count")).unwrap().grep_flags(), ["-c"]);
    }

    #[test]
    fn context_outside_content_mode_is_refused_with_the_seeds_words() {
        for mode in ["files_with_matches", "count", ""] {
            let mut r = raw(mode);
            r.context_before = Some(1);
            assert_eq!(
                spec(r).unwrap_err().0,
                "'context'/'context_before'/'context_after' only apply when output_mode is 'content'."
            );
        }
        // Zero context is no context.
        let mut r = raw("count");
        r.context = Some(0);
        assert!(spec(r).is_ok());
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(spec(raw("lines")).unwrap_err().0.contains("'output_mode'"));
        let mut r = raw("");
        r.pattern = " ".into();
        assert_eq!(
            spec(r).unwrap_err().0,
            "'pattern' must be a non-empty string."
        );
        let mut r = raw("");
        r.head_limit = Some(0);
        assert!(spec(r).is_err());
        let mut r = raw("");
        r.path = Some("".into());
        assert!(spec(r).is_err());
        let mut r = raw("");
        r.pattern = "x".repeat(MAX_ARGUMENT_BYTES);
        assert!(spec(r).unwrap_err().0.contains("at most 24576"));
        // The pattern is kept as given, leading dash and spaces included.
        let mut r = raw("");
        r.pattern = " -v ".into();
        assert_eq!(spec(r).unwrap().pattern, " -v ");
    }

    #[test]
    fn a_name_glob_becomes_includes_and_a_path_glob_filters_here() {
        let mut r = raw("");
        r.glob = Some("*.{ts,tsx}".into());
        let s = spec(r).unwrap();
        assert_eq!(
            s.grep_flags(),
            ["-l", "--include", "*.ts", "--include", "*.tsx"]
        );
        assert!(!s.filters_locally());

        let mut r = raw("");
        r.glob = Some("{src,lib}/**/*.rs".into());
        let s = spec(r).unwrap();
        assert_eq!(s.grep_flags(), ["-l", "--include", "*.rs"]);
        assert!(s.filters_locally());

        let mut r = raw("");
        r.glob = Some("./*.{md,txt}".into());
        let s = spec(r).unwrap();
        assert_eq!(
            s.grep_flags(),
            ["-l", "--include", "*.md", "--include", "*.txt"]
        );
        assert!(!s.filters_locally());

        let mut r = raw("");
        r.glob = Some("src/**".into());
        let s = spec(r).unwrap();
        assert_eq!(s.grep_flags(), ["-l"]);
        assert!(s.filters_locally());
    }
}
