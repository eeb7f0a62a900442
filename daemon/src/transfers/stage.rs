//! Where scp writes: a temporary directory beside the destination, whose entries are renamed
//! into place once the copy is complete (as rsync does with its temporary files). A timeout, a
//! cancellation or a failed copy then leaves the destination as it was, and the temporary
//! directory is removed. Uploads stage on the host (`stage_remote.rs`, over SFTP), downloads
//! here (`stage_local.rs`); both follow the rules below.
//!
//! scp names what it writes in one of two ways, and the stage keeps the same names:
//! - [`Shape::Inside`]: the destination is a directory, and each source lands in it under its
//!   own name. scp writes into the temporary directory instead; each entry then moves into the
//!   destination, and an entry that meets an existing directory is merged into it file by file.
//! - [`Shape::Named`]: one source becomes the destination itself (a new name, or an existing
//!   file it replaces). scp writes `temp/<destination's name>`, which then replaces it.
//!
//! Everything else (several sources and no directory, a destination ending in `/` that does not
//! exist, a device or FIFO, a path that cannot be examined) is left to scp as before: it fails
//! before writing, or writes to something that is not a file to protect. So does a directory in
//! which no temporary directory can be made (scp then writes in place, as without staging).
//!
//! Replacing a file keeps its mode unless times are preserved (`scp -p` gives the source's
//! mode), as scp writing into the existing file would. A destination that is a symlink to a file
//! is resolved first, so the file it points to is replaced and the link stays.

use std::collections::HashMap;
use std::ffi::OsString;

/// What the destination was before the copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestKind {
    Dir,
    File,
    /// Neither: a device, a FIFO, a socket.
    Other,
    /// Nothing by that name.
    Missing,
    /// It could not be examined, or it is a symlink to nothing.
    Unknown,
}

/// How scp names what it writes (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Inside,
    Named,
}

/// The shape of a copy of `sources` sources to a destination of `kind`, or None when scp should
/// write in place.
pub fn shape(kind: DestKind, sources: usize, trailing_slash: bool) -> Option<Shape> {
    match kind {
        DestKind::Dir => Some(Shape::Inside),
        DestKind::File if sources == 1 => Some(Shape::Named),
        DestKind::Missing if sources == 1 && !trailing_slash => Some(Shape::Named),
        _ => None,
    }
}

/// The name of a temporary directory: hidden, and marked as ssh-mcp's.
pub fn temp_name() -> String {
    format!(".ssh-mcp-{:016x}.tmp", crate::files::remote_path::nonce())
}

/// When scp failed without being stopped, what it wrote is kept only where it is provably
/// whole: an entry that is a regular file of its source's size (keyed by the entry's name).
/// Directories and everything else stay out, and are removed with the temporary directory.
pub type WholeSizes = HashMap<OsString, u64>;

/// What was put in place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Landed {
    /// The names of the entries moved into the destination directory.
    pub entries: Vec<OsString>,
    /// Regular files among them (counting the files inside directories) and their bytes.
    pub files: u64,
    pub bytes: u64,
    /// Entries left out (not whole after a failed copy), for stderr.
    pub left_out: Vec<OsString>,
}

/// Whether a staged entry may go in place: always after a complete copy; after a failed one
/// only as a regular file of its source's size.
pub fn may_land(whole: Option<&WholeSizes>, name: &OsString, regular_size: Option<u64>) -> bool {
    match whole {
        None => true,
        Some(sizes) => regular_size.is_some() && sizes.get(name).copied() == regular_size,
    }
}

/// stderr lines about what a staged copy did not put in place, or why it could not.
pub fn notes(landed: &Landed, error: Option<&str>) -> Vec<u8> {
    let mut out = String::new();
    for name in &landed.left_out {
        out.push_str(&format!(
            "ssh-mcp: {} was not put in place: the copy did not complete\n",
            name.to_string_lossy()
        ));
    }
    if let Some(e) = error {
        out.push_str(&format!("ssh-mcp: {e}\n"));
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scp_writes_in_place_only_where_nothing_is_at_stake() {
        assert_eq!(shape(DestKind::Dir, 3, false), Some(Shape::Inside));
        assert_eq!(shape(DestKind::File, 1, false), Some(Shape::Named));
        assert_eq!(shape(DestKind::Missing, 1, false), Some(Shape::Named));
        assert_eq!(
            shape(DestKind::Missing, 1, true),
            None,
            "scp refuses it itself"
        );
        assert_eq!(
            shape(DestKind::File, 2, false),
            None,
            "scp refuses it itself"
        );
        assert_eq!(shape(DestKind::Missing, 2, false), None);
        assert_eq!(shape(DestKind::Other, 1, false), None, "/dev/null stays");
        assert_eq!(shape(DestKind::Unknown, 1, false), None);
    }

    #[test]
    fn after_a_failed_copy_only_whole_files_land() {
        let name = OsString::from("a");
        let sizes: WholeSizes = [(name.clone(), 5)].into_iter().collect();
        assert!(may_land(None, &name, None), "a complete copy lands whole");
        assert!(may_land(Some(&sizes), &name, Some(5)));
        assert!(!may_land(Some(&sizes), &name, Some(4)), "a fragment");
        assert!(!may_land(Some(&sizes), &name, None), "a directory");
        assert!(!may_land(Some(&sizes), &OsString::from("b"), Some(5)));
    }

    #[test]
    fn temporary_names_are_hidden_and_differ() {
        let a = temp_name();
        assert!(a.starts_with(".ssh-mcp-") && a.ends_with(".tmp"), "{a}");
        assert_ne!(a, temp_name());
    }
}
