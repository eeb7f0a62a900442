//! [`Walk`]: what ssh_glob's directory walk decides, apart from how directories are listed (SFTP,
//! in `glob.rs`): which directories to list next (breadth first; `.git`, `.hg` and `.svn`
//! pruned; a directory no match can be under skipped), which entries match (regular files
//! only), when to stop (an entry limit, or a stop token: the walk's matching runs as a job on
//! the blocking pool, `offload.rs`, and stops between entries once its call is over), and the
//! sorted, limited outcome.

use std::collections::VecDeque;

use tokio_util::sync::CancellationToken;

use super::glob_pattern::GlobPattern;

/// Directories pruned wherever they are (the seed's list).
const PRUNED: &[&str] = &[".git", ".hg", ".svn"];

/// What a directory entry is, as readdir reports it (links are not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Other,
}

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub kind: Kind,
}

/// What a glob found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GlobOutcome {
    /// Sorted, relative to `path`.
    pub matches: Vec<String>,
    pub truncated: bool,
    /// The walk stopped at its entry limit.
    pub walk_limited: bool,
    pub entries_seen: u64,
    /// Directories that could not be listed (relative to `path`); the walk went on without them.
    pub unreadable_dirs: Vec<String>,
}

/// The state of one walk. Directories are named relative to the base (`""` is the base).
#[derive(Debug)]
pub struct Walk {
    glob: GlobPattern,
    max_entries: u64,
    todo: VecDeque<String>,
    out: GlobOutcome,
    /// Cancelled when the walk's call is over (its deadline, its client gone, shutdown).
    stop: CancellationToken,
    stopped: bool,
}

impl Walk {
    pub fn new(glob: GlobPattern, max_entries: u64) -> Self {
        Self {
            glob,
            max_entries,
            todo: VecDeque::from([String::new()]),
            out: GlobOutcome::default(),
            stop: CancellationToken::new(),
            stopped: false,
        }
    }

    /// Entries are taken only while `stop` is not cancelled: a matching job checks it between
    /// entries.
    pub fn stop_on(&mut self, stop: &CancellationToken) {
        self.stop = stop.clone();
    }

    /// Whether the walk gave up because its stop token was cancelled (the outcome is partial).
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Whether to take another entry; notes a cancelled stop token.
    fn going_on(&mut self) -> bool {
        if self.stop.is_cancelled() {
            self.stopped = true;
        }
        !self.stopped && !self.out.walk_limited
    }

    /// The next directory to list, if the walk goes on.
    pub fn next_dir(&mut self) -> Option<String> {
        if !self.going_on() {
            return None;
        }
        self.todo.pop_front()
    }

    /// Whether the walk stopped at its entry limit.
    pub fn limited(&self) -> bool {
        self.out.walk_limited
    }

    /// Takes the entries of the directory `rel`.
    pub fn listed(&mut self, rel: &str, entries: Vec<Entry>) {
        for entry in entries {
            if !self.counted() {
                return;
            }
            let child = if rel.is_empty() {
                entry.name
            } else {
                format!("{rel}/{}", entry.name)
            };
            match entry.kind {
                Kind::Dir => {
                    let name = child.rsplit('/').next().unwrap_or(&child);
                    if !PRUNED.contains(&name) && self.glob.may_match_under(&child) {
                        self.todo.push_back(child);
                    }
                }
                Kind::File if self.glob.matches(&child) => self.out.matches.push(child),
                Kind::File | Kind::Other => {}
            }
        }
    }

    /// A regular file found by another lister (`find` on the host), relative to the base:
    /// counted toward the entry limit, kept when the glob matches it.
    pub fn file(&mut self, rel: String) {
        if self.counted() && self.glob.matches(&rel) {
            self.out.matches.push(rel);
        }
    }

    /// Counts one more entry toward the limit; false when the walk stops instead (it had
    /// stopped already, or this entry is past the limit).
    fn counted(&mut self) -> bool {
        if !self.going_on() {
            return false;
        }
        self.out.entries_seen += 1;
        if self.out.entries_seen > self.max_entries {
            self.out.walk_limited = true;
            return false;
        }
        true
    }

    /// Marks the walk as stopped before it saw everything.
    pub fn stop(&mut self) {
        self.out.walk_limited = true;
    }

    /// Notes that the directory `rel` could not be listed.
    pub fn unreadable(&mut self, rel: String) {
        self.out.unreadable_dirs.push(rel);
    }

    /// The outcome: matches sorted, then cut at `head_limit`.
    pub fn finish(self, head_limit: Option<usize>) -> GlobOutcome {
        let mut out = self.out;
        out.matches.sort();
        out.unreadable_dirs.sort();
        if let Some(limit) = head_limit
            && out.matches.len() > limit
        {
            out.matches.truncate(limit);
            out.truncated = true;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A tree as `path → kind`; directories are implied by their files unless listed.
    fn tree(spec: &[(&str, Kind)]) -> BTreeMap<String, Kind> {
        let mut t = BTreeMap::new();
        for (p, k) in spec {
            let parts: Vec<&str> = p.split('/').collect();
            for i in 1..parts.len() {
                t.insert(parts[..i].join("/"), Kind::Dir);
            }
            t.insert((*p).to_owned(), *k);
        }
        t
    }

    fn children(t: &BTreeMap<String, Kind>, dir: &str) -> Vec<Entry> {
        t.iter()
            .filter_map(|(p, k)| {
                let rest = if dir.is_empty() {
                    p.as_str()
                } else {
                    p.strip_prefix(dir)?.strip_prefix('/')?
                };
                (!rest.contains('/')).then(|| Entry {
                    name: rest.to_owned(),
                    kind: *k,
                })
            })
            .collect()
    }

    /// Runs a walk over `t`; returns the outcome and the directories listed.
    fn walk(
        pattern: &str,
        t: &BTreeMap<String, Kind>,
        max: u64,
        head: Option<usize>,
    ) -> (GlobOutcome, Vec<String>) {
        let glob = GlobPattern::parse(pattern).unwrap();
        let mut w = Walk::new(glob, max);
        let mut listed = Vec::new();
        while let Some(dir) = w.next_dir() {
            if dir == "locked" {
                w.unreadable(dir);
                continue;
            }
            w.listed(&dir, children(t, &dir));
            listed.push(dir);
        }
        (w.finish(head), listed)
    }

    fn sample() -> BTreeMap<String, Kind> {
        tree(&[
            ("a.rs", Kind::File),
            ("src/b.rs", Kind::File),
            ("src/deep/c.rs", Kind::File),
            ("src/link.rs", Kind::Other),
            ("docs/d.md", Kind::File),
            (".git/e.rs", Kind::File),
            ("x/.hg/f.rs", Kind::File),
            (".hidden/g.rs", Kind::File),
            ("locked/h.rs", Kind::File),
        ])
    }

    #[test]
    fn regular_files_match_and_vcs_directories_are_pruned() {
        let (out, listed) = walk("**/*.rs", &sample(), 100, None);
        assert_eq!(out.matches, ["a.rs", "src/b.rs", "src/deep/c.rs"]);
        assert_eq!(out.unreadable_dirs, ["locked"]);
        assert!(
            !listed
                .iter()
                .any(|d| d.contains(".git") || d.contains(".hg"))
        );
        assert!(!out.truncated && !out.walk_limited);
        // A hidden directory is entered only when the pattern names it.
        let (out, _) = walk(".hidden/*", &sample(), 100, None);
        assert_eq!(out.matches, [".hidden/g.rs"]);
        let (out, _) = walk(".git/*", &sample(), 100, None);
        assert!(out.matches.is_empty());
    }

    #[test]
    fn directories_the_glob_cannot_reach_are_not_listed() {
        let (out, listed) = walk("src/*.rs", &sample(), 100, None);
        assert_eq!(out.matches, ["src/b.rs"]);
        assert_eq!(listed, ["", "src"]);
    }

    #[test]
    fn head_limit_keeps_the_first_sorted_matches() {
        let (out, _) = walk("**", &sample(), 100, Some(2));
        assert_eq!(out.matches, ["a.rs", "docs/d.md"]);
        assert!(out.truncated);
    }

    #[test]
    fn the_walk_stops_at_its_entry_limit_and_says_so() {
        let (out, listed) = walk("**", &sample(), 3, None);
        assert!(out.walk_limited);
        assert_eq!(out.entries_seen, 4);
        assert_eq!(listed, [""], "nothing is listed after the limit");
        let everything = sample().len() as u64;
        let (out, _) = walk("**", &sample(), everything, None);
        assert!(!out.walk_limited);
    }

    #[test]
    fn a_cancelled_stop_token_ends_the_walk_between_entries() {
        let mut w = Walk::new(GlobPattern::parse("**").unwrap(), 100);
        let stop = CancellationToken::new();
        w.stop_on(&stop);
        let dir = w.next_dir().unwrap();
        w.listed(&dir, children(&sample(), &dir)[..1].to_vec());
        stop.cancel();
        w.listed(&dir, children(&sample(), &dir));
        assert!(w.stopped());
        assert_eq!(w.next_dir(), None);
        assert_eq!(w.finish(None).entries_seen, 1);
    }
}
