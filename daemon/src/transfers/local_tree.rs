//! Counting what a transfer moved on the local side: the regular files under a set of roots and
//! their sizes ([`walk`]), with a bound on how many entries are visited. Links inside the trees
//! are counted as the copy treats them ([`Links`]): skipped where it copies a link as a link, or
//! followed, each real directory once, where it copies what they lead to (`scp -r`). The walk
//! also lists the links it meets, for the door's check of where they lead (`followed_links.rs`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The most entries one walk visits; beyond it the counts are a lower bound.
pub const MAX_ENTRIES: usize = 200_000;

/// Regular files found under some roots.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    /// Each file with its size, in walk order.
    pub files: Vec<(PathBuf, u64)>,
    /// Each symlink met under the roots (not the roots themselves), in walk order.
    pub links: Vec<PathBuf>,
    /// The walk stopped at [`MAX_ENTRIES`].
    pub cut_short: bool,
}

impl Tree {
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|(_, n)| n).sum()
    }

    pub fn count(&self) -> u64 {
        self.files.len() as u64
    }
}

/// What the copy does with a symlink inside a tree (a root given as a link is always followed,
/// as scp and rsync do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Copies the link itself (rsync's default): it moves no file's bytes.
    AsLinks,
    /// Copies what the link leads to (`scp -r`, rsync's `--copy-links`).
    Followed,
}

/// The regular files at or under each root (a root that is a file counts as one), files behind
/// links included when `links` says the copy follows them.
pub fn walk(roots: &[PathBuf], links: Links) -> Tree {
    walk_within(roots, links, MAX_ENTRIES)
}

/// [`walk`], visiting at most `max_entries` entries.
pub(super) fn walk_within(roots: &[PathBuf], links: Links, max_entries: usize) -> Tree {
    let mut tree = Tree::default();
    let mut visited = 0usize;
    // Directories read so far, when links are followed: a cycle of links ends.
    let mut dirs_read: HashSet<PathBuf> = HashSet::new();
    let mut stack: Vec<PathBuf> = roots.iter().rev().cloned().collect();
    while let Some(path) = stack.pop() {
        visited += 1;
        if visited > max_entries {
            tree.cut_short = true;
            break;
        }
        let Ok(mut meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            let root = roots.contains(&path);
            if !root {
                tree.links.push(path.clone());
            }
            let follow = links == Links::Followed || root;
            match std::fs::metadata(&path) {
                Ok(m) if follow => meta = m,
                _ => continue,
            }
        }
        if meta.is_file() {
            tree.files.push((path, meta.len()));
        } else if meta.is_dir() {
            if links == Links::Followed
                && !std::fs::canonicalize(&path).is_ok_and(|real| dirs_read.insert(real))
            {
                continue;
            }
            push_children(&path, &mut stack);
        }
    }
    tree
}

fn push_children(dir: &Path, stack: &mut Vec<PathBuf>) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut children: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        children.sort();
        stack.extend(children.into_iter().rev());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_regular_files_and_their_bytes() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a/b")).unwrap();
        std::fs::write(d.path().join("a/one"), b"12345").unwrap();
        std::fs::write(d.path().join("a/b/two"), b"123").unwrap();
        std::os::unix::fs::symlink("/etc", d.path().join("a/link")).unwrap();
        let t = walk(&[d.path().join("a")], Links::AsLinks);
        assert_eq!((t.count(), t.bytes()), (2, 8));
        assert!(!t.cut_short);
        let single = walk(
            &[d.path().join("a/one"), d.path().join("missing")],
            Links::AsLinks,
        );
        assert_eq!((single.count(), single.bytes()), (1, 5));
    }

    #[test]
    fn followed_links_count_what_they_lead_to_and_a_cycle_once() {
        let d = tempfile::tempdir().unwrap();
        let (a, other) = (d.path().join("a"), d.path().join("other"));
        std::fs::create_dir_all(a.join("b")).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(a.join("one"), b"12345").unwrap();
        std::fs::write(other.join("far"), b"1234567").unwrap();
        std::os::unix::fs::symlink("../one", a.join("b/same")).unwrap();
        std::os::unix::fs::symlink(&other, a.join("dir")).unwrap();
        std::os::unix::fs::symlink("..", a.join("b/up")).unwrap();
        std::os::unix::fs::symlink("/nowhere", a.join("dangling")).unwrap();
        let as_links = walk(std::slice::from_ref(&a), Links::AsLinks);
        assert_eq!((as_links.count(), as_links.bytes()), (1, 5));
        let followed = walk(std::slice::from_ref(&a), Links::Followed);
        let mut names: Vec<_> = followed
            .files
            .iter()
            .map(|(p, n)| (p.strip_prefix(&a).unwrap().display().to_string(), *n))
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                ("b/same".to_owned(), 5),
                ("dir/far".to_owned(), 7),
                ("one".to_owned(), 5)
            ]
        );
        assert!(!followed.cut_short);
    }
}
