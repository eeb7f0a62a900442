//! Counting what a transfer moved on the local side: the regular files under a set of roots and
//! their sizes ([`walk`]), without following symlinks and with a bound on how many entries are
//! visited.

use std::path::{Path, PathBuf};

/// The most entries one walk visits; beyond it the counts are a lower bound.
pub const MAX_ENTRIES: usize = 200_000;

/// Regular files found under some roots.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    /// Each file with its size, in walk order.
    pub files: Vec<(PathBuf, u64)>,
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

/// The regular files at or under each root (a root that is a file counts as one).
pub fn walk(roots: &[PathBuf]) -> Tree {
    let mut tree = Tree::default();
    let mut visited = 0usize;
    let mut stack: Vec<PathBuf> = roots.iter().rev().cloned().collect();
    while let Some(path) = stack.pop() {
        visited += 1;
        if visited > MAX_ENTRIES {
            tree.cut_short = true;
            break;
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_file() {
            tree.files.push((path, meta.len()));
        } else if meta.is_dir() {
            // A root given as a symlink to a directory is followed, as scp and rsync do.
            push_children(&path, &mut stack);
        } else if meta.file_type().is_symlink()
            && roots.contains(&path)
            && let Ok(m) = std::fs::metadata(&path)
        {
            if m.is_file() {
                tree.files.push((path, m.len()));
            } else if m.is_dir() {
                push_children(&path, &mut stack);
            }
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
        let t = walk(&[d.path().join("a")]);
        assert_eq!((t.count(), t.bytes()), (2, 8));
        assert!(!t.cut_short);
        let single = walk(&[d.path().join("a/one"), d.path().join("missing")]);
        assert_eq!((single.count(), single.bytes()), (1, 5));
    }
}
