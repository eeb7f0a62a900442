//! What `ssh_view` answers for a directory: the entries under it to depth 2, hidden names left
//! out (and not entered), sorted, each with its path as `find` prints it (the given path, a `/`,
//! the rest) and whether it is a directory. The list is bounded: past [`MAX_ENTRIES`] it is cut
//! and says so. Names come from SFTP as they are, so a newline in a name is just a character.

/// Entries returned at most.
pub const MAX_ENTRIES: usize = 1000;

/// How deep the listing goes below the directory (the seed's `find -maxdepth 2`).
pub const DEPTH: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Directory,
    File,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Directory => "directory",
            Self::File => "file",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub kind: Kind,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Listing {
    pub entries: Vec<Entry>,
    /// More entries exist than were returned.
    pub truncated: bool,
}

/// Names never listed: hidden ones, and the `.`/`..` some servers return.
pub fn is_listed(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.')
}

/// `parent` joined with `name` the way `find PARENT` prints it: no doubled `/`.
pub fn child_path(parent: &str, name: &str) -> String {
    if parent.ends_with('/') {
        format!("{parent}{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// Sorts `entries` by path and keeps the first `max`; `more` says entries were already left
/// out while walking.
pub fn finish(mut entries: Vec<Entry>, max: usize, more: bool) -> Listing {
    entries.sort_unstable_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let truncated = more || entries.len() > max;
    entries.truncate(max);
    Listing { entries, truncated }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(path: &str, kind: Kind) -> Entry {
        Entry {
            path: path.into(),
            kind,
        }
    }

    #[test]
    fn hidden_names_are_not_listed() {
        assert!(is_listed("src"));
        assert!(is_listed("a.txt"));
        assert!(is_listed("line\nbreak"));
        assert!(!is_listed(".git"));
        assert!(!is_listed("."));
        assert!(!is_listed(".."));
        assert!(!is_listed(""));
    }

    #[test]
    fn child_paths_are_joined_like_find() {
        assert_eq!(child_path("dir", "a"), "dir/a");
        assert_eq!(child_path("dir/", "a"), "dir/a");
        assert_eq!(child_path("/", "etc"), "/etc");
        assert_eq!(child_path("~/x", "y z"), "~/x/y z");
    }

    #[test]
    fn entries_are_sorted_by_bytes_and_bounded() {
        let l = finish(
            vec![
                e("d/b", Kind::File),
                e("d/a/x", Kind::File),
                e("d/a", Kind::Directory),
                e("d/a-b", Kind::File),
            ],
            3,
            false,
        );
        let paths: Vec<&str> = l.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["d/a", "d/a-b", "d/a/x"]);
        assert!(l.truncated);
        let l = finish(vec![e("x", Kind::File)], 3, false);
        assert!(!l.truncated);
        assert!(finish(vec![], 3, true).truncated);
    }

    #[test]
    fn kinds_have_the_seed_names() {
        assert_eq!(Kind::Directory.as_str(), "directory");
        assert_eq!(Kind::File.as_str(), "file");
    }
}
