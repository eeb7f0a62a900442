//! Which files an rsync `exclude` left out, so that `checksum: true` compares only what rsync
//! was asked to move (a file it skipped is not a mismatch). rsync's rules for a pattern, as its
//! man page states them: a trailing `/` matches directories only; a leading `/` anchors it at the
//! transfer's root; one with a `/` inside (or `**`) is matched against the end of the path, whole
//! components; any other against each name; `*` is any run of characters but `/`, `**` any run,
//! `?` one character but `/`, `[…]` a class. A file is left out when it or a directory above it
//! matches.

/// The exclude patterns of one transfer.
#[derive(Debug, Clone, Default)]
pub struct Excludes(Vec<Rule>);

#[derive(Debug, Clone)]
struct Rule {
    pattern: Vec<char>,
    dirs_only: bool,
    anchored: bool,
    /// Matched against trailing path components rather than one name.
    whole_path: bool,
}

impl Excludes {
    pub fn new(patterns: &[String]) -> Self {
        Self(
            patterns
                .iter()
                .filter_map(|p| {
                    let dirs_only = p.ends_with('/');
                    let p = p.trim_end_matches('/');
                    let anchored = p.starts_with('/');
                    let p = p.trim_start_matches('/');
                    (!p.is_empty()).then(|| Rule {
                        whole_path: anchored || p.contains('/') || p.contains("**"),
                        pattern: p.chars().collect(),
                        dirs_only,
                        anchored,
                    })
                })
                .collect(),
        )
    }

    /// Whether the file at `path` (its components from the transfer's root) was excluded.
    pub fn excludes(&self, path: &[&str]) -> bool {
        (1..=path.len()).any(|end| {
            let is_dir = end < path.len();
            self.0
                .iter()
                .any(|r| (is_dir || !r.dirs_only) && r.matches(&path[..end]))
        })
    }
}

impl Rule {
    /// Whether the rule matches the entry whose path from the root is `path`.
    fn matches(&self, path: &[&str]) -> bool {
        if !self.whole_path {
            let name: Vec<char> = path[path.len() - 1].chars().collect();
            return wild(&self.pattern, &name);
        }
        // The pattern against the last k components, for each k (all of them when anchored).
        let starts: Vec<usize> = if self.anchored {
            vec![0]
        } else {
            (0..path.len()).collect()
        };
        starts.into_iter().any(|start| {
            let tail: Vec<char> = path[start..].join("/").chars().collect();
            wild(&self.pattern, &tail)
        })
    }
}

/// rsync's wildcard match of `p` against all of `s`.
fn wild(p: &[char], s: &[char]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some('*') if p.get(1) == Some(&'*') => (0..=s.len()).any(|i| wild(&p[2..], &s[i..])),
        Some('*') => {
            let mut i = 0;
            loop {
                if wild(&p[1..], &s[i..]) {
                    return true;
                }
                if i == s.len() || s[i] == '/' {
                    return false;
                }
                i += 1;
            }
        }
        Some('?') => s.first().is_some_and(|&c| c != '/') && wild(&p[1..], &s[1..]),
        Some('[') => match class(&p[1..], s.first().copied()) {
            Some((true, rest)) => wild(rest, &s[1..]),
            Some((false, _)) => false,
            // An unterminated `[` is itself.
            None => s.first() == Some(&'[') && wild(&p[1..], &s[1..]),
        },
        Some('\\') if p.len() > 1 => s.first() == Some(&p[1]) && wild(&p[2..], &s[1..]),
        Some(&c) => s.first() == Some(&c) && wild(&p[1..], &s[1..]),
    }
}

/// A `[…]` class (after its `[`) against `c`: whether it matched, and the pattern after `]`.
fn class(p: &[char], c: Option<char>) -> Option<(bool, &[char])> {
    let (negated, mut i) = match p.first() {
        Some('!' | '^') => (true, 1),
        _ => (false, 0),
    };
    let start = i;
    let mut hit = false;
    while i < p.len() {
        if p[i] == ']' && i > start {
            let matched = c.is_some_and(|c| c != '/') && hit != negated;
            return Some((matched, &p[i + 1..]));
        }
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            hit |= c.is_some_and(|c| p[i] <= c && c <= p[i + 2]);
            i += 3;
        } else {
            hit |= c == Some(p[i]);
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(patterns: &[&str], path: &str) -> bool {
        let patterns: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
        let parts: Vec<&str> = path.split('/').collect();
        Excludes::new(&patterns).excludes(&parts)
    }

    #[test]
    fn a_name_pattern_matches_at_any_depth_and_below_a_matching_directory() {
        assert!(ex(&["*.tmp"], "src/a.tmp"));
        assert!(ex(&["*.tmp"], ".x.tmp"), "rsync's * takes a leading dot");
        assert!(!ex(&["*.tmp"], "src/a.tmp.rs"));
        assert!(ex(&["node_modules"], "app/node_modules/x/y.js"));
        assert!(ex(&["cache/"], "app/cache/f"), "a directory pattern");
        assert!(!ex(&["cache/"], "app/cache"), "…never a file");
        assert!(ex(&["a?c"], "abc") && !ex(&["a?c"], "a/c"));
        assert!(ex(&["[ab]*.log"], "b1.log") && !ex(&["[!ab]*.log"], "b1.log"));
    }

    #[test]
    fn a_pattern_with_a_slash_matches_trailing_components_and_a_leading_slash_anchors() {
        assert!(ex(&["build/*.o"], "src/build/x.o"));
        assert!(!ex(&["build/*.o"], "src/build/sub/x.o"));
        assert!(ex(&["build/**"], "src/build/sub/x.o"));
        assert!(ex(&["/dist"], "dist/app.js"));
        assert!(!ex(&["/dist"], "src/dist/app.js"));
        assert!(!ex(&[], "anything"));
    }
}
