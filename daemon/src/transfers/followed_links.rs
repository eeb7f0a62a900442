//! The symlinks an upload would follow inside its source trees ([`inside`]). `scp -r` follows
//! every link it meets while walking a directory, and rsync does too with `--copy-links` and its
//! kin, so a link in an allowed folder (`~/work/key -> ~/.ssh/id_ed25519`, perhaps brought along
//! by an earlier download) would send what the `[local]` rules protect. The door checks each link
//! found here as it checks the sources themselves (`door/admit.rs`).
//!
//! A download with rsync's `--keep-dirlinks` goes the other way: it writes into the folders that
//! links already in its destination lead to, so the same walk lists them for the door's check of
//! where downloads may write.
//!
//! The walk is `local_tree`'s, which also counts the files: it goes where the copy would go,
//! into directories that links lead to, each real directory once (so a link cycle ends), and at
//! most [`MAX_ENTRIES`] entries; a larger tree cannot be vouched for and the transfer is refused.

use std::path::PathBuf;

use ssh_mcp_core::ssh::argv::transfer::Operands;

use crate::transfers::local_tree::{self, Links, MAX_ENTRIES};
use crate::transfers::spec::{Tool, TransferSpec};

/// The rsync options under which it copies what a link points to instead of the link.
const RSYNC_FOLLOWING: [&str; 3] = ["--copy-links", "--copy-unsafe-links", "--copy-dirlinks"];

/// The walk met more than [`MAX_ENTRIES`] entries under `roots`.
#[derive(Debug, thiserror::Error)]
#[error(
    "the tree under {} has more than {MAX_ENTRIES} entries, too many to check the links the \
     copy would follow against the [local] rules; copy a smaller folder, or leave out what makes \
     it follow links (scp's recursive copy, rsync's --copy-links, --copy-unsafe-links, \
     --copy-dirlinks or --keep-dirlinks: plain ssh_sync copies links as links)",
    roots.iter().map(|r| r.display().to_string()).collect::<Vec<_>>().join(", ")
)]
pub struct TooManyEntries {
    pub roots: Vec<PathBuf>,
}

/// What the copy of `spec` does with links inside its trees: scp follows them, rsync copies
/// them as links unless told to copy what they point to.
pub fn links_in(spec: &TransferSpec) -> Links {
    let follows = match &spec.tool {
        Tool::Scp { .. } => true,
        Tool::Rsync { extra, .. } => RSYNC_FOLLOWING.iter().any(|f| extra.has_flag(f)),
    };
    if follows {
        Links::Followed
    } else {
        Links::AsLinks
    }
}

/// Whether a download of `spec` writes through links to directories that are already in its
/// destination (rsync's `--keep-dirlinks`, `-K`), instead of replacing them.
pub fn writes_through_links(spec: &TransferSpec) -> bool {
    matches!(spec.operands, Operands::Download { .. })
        && matches!(&spec.tool, Tool::Rsync { extra, .. } if extra.has_flag("--keep-dirlinks"))
}

/// The local trees of `spec` whose links the copy would follow: an upload's directory sources
/// when scp copies recursively, or rsync is told to copy what links point to. None otherwise
/// (rsync's default copies a link as a link).
pub fn trees_followed(spec: &TransferSpec) -> Vec<PathBuf> {
    let recursive = match &spec.tool {
        Tool::Scp { recursive, .. } => *recursive,
        Tool::Rsync { .. } => true,
    };
    let follows = recursive && links_in(spec) == Links::Followed;
    match &spec.operands {
        Operands::Upload { sources, .. } if follows => sources
            .iter()
            .map(|s| s.as_path().to_path_buf())
            .filter(|p| p.is_dir())
            .collect(),
        _ => Vec::new(),
    }
}

/// Every symlink under the directories `roots` that a copy following links would pass through,
/// in walk order (the roots themselves are checked as sources): `local_tree`'s walk, as scp
/// makes it.
pub fn inside(roots: &[PathBuf]) -> Result<Vec<PathBuf>, TooManyEntries> {
    inside_within(roots, MAX_ENTRIES)
}

fn inside_within(roots: &[PathBuf], max_entries: usize) -> Result<Vec<PathBuf>, TooManyEntries> {
    let tree = local_tree::walk_within(roots, Links::Followed, max_entries);
    if tree.cut_short {
        return Err(TooManyEntries {
            roots: roots.to_vec(),
        });
    }
    Ok(tree.links)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;
    use std::path::Path;

    use super::*;

    fn names(links: &[PathBuf], base: &Path) -> Vec<String> {
        let mut out: Vec<String> = links
            .iter()
            .map(|l| l.strip_prefix(base).unwrap().display().to_string())
            .collect();
        out.sort();
        out
    }

    #[test]
    fn finds_links_at_any_depth_and_inside_the_folders_they_lead_to() {
        let d = tempfile::tempdir().unwrap();
        let (tree, elsewhere) = (d.path().join("tree"), d.path().join("elsewhere"));
        std::fs::create_dir_all(tree.join("a/b")).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::write(tree.join("a/plain"), b"x").unwrap();
        symlink("/etc/hostname", tree.join("a/b/abs")).unwrap();
        symlink("../plain", tree.join("a/b/rel")).unwrap();
        symlink("/nowhere/at/all", tree.join("dangling")).unwrap();
        symlink(&elsewhere, tree.join("out")).unwrap();
        symlink("/etc/passwd", elsewhere.join("deeper")).unwrap();
        let links = inside(std::slice::from_ref(&tree)).unwrap();
        assert_eq!(
            names(&links, d.path()),
            [
                "tree/a/b/abs",
                "tree/a/b/rel",
                "tree/dangling",
                "tree/out",
                "tree/out/deeper"
            ]
        );
    }

    #[test]
    fn a_cycle_of_links_is_walked_once() {
        let d = tempfile::tempdir().unwrap();
        let tree = d.path().join("tree");
        std::fs::create_dir_all(tree.join("sub")).unwrap();
        symlink("..", tree.join("sub/up")).unwrap();
        symlink(&tree, tree.join("self")).unwrap();
        let links = inside(std::slice::from_ref(&tree)).unwrap();
        assert_eq!(names(&links, d.path()), ["tree/self", "tree/sub/up"]);
    }

    #[test]
    fn a_tree_past_the_bound_is_refused_with_its_root() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..6 {
            std::fs::write(d.path().join(format!("f{i}")), b"x").unwrap();
        }
        let roots = [d.path().to_path_buf()];
        // The root and its six files.
        assert!(inside_within(&roots, 7).is_ok());
        let err = inside_within(&roots, 6).unwrap_err();
        assert_eq!(err.roots, roots);
        assert!(err.to_string().contains("ssh_sync"), "{err}");
    }

    #[test]
    fn a_tree_without_links_has_none() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a/b/c")).unwrap();
        std::fs::write(d.path().join("a/b/c/f"), b"x").unwrap();
        assert!(inside(&[d.path().to_path_buf()]).unwrap().is_empty());
    }
}
