//! A download's stage (`stage.rs`) on this machine: scp writes into a temporary directory beside
//! the local destination, and what it wrote is renamed into place when the copy is complete.
//! Blocking file system calls: the caller runs them off the async workers.

use std::ffi::OsString;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ssh_mcp_core::ssh::transfers::paths::LocalOperand;

use super::local_tree;
use super::stage::{self, DestKind, Landed, Shape, WholeSizes};

/// A temporary directory beside a download's destination.
#[derive(Debug)]
pub struct LocalStage {
    /// The directory the entries land in.
    dir: PathBuf,
    /// The temporary directory inside `dir`.
    temp: PathBuf,
    /// [`Shape::Named`]: the one entry's name (the destination's).
    name: Option<OsString>,
    /// Replacing a file keeps its mode (scp without -p).
    keep_mode: bool,
}

impl LocalStage {
    /// The stage for a download of `sources` sources to `dest`, or None when scp should write
    /// in place (see `stage.rs`).
    pub fn prepare(dest: &LocalOperand, sources: usize, keep_mode: bool) -> Option<Self> {
        let path = dest.as_path();
        let kind = match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => DestKind::Dir,
            Ok(m) if m.is_file() => DestKind::File,
            Ok(_) => DestKind::Other,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match std::fs::symlink_metadata(path) {
                    Ok(_) => DestKind::Unknown,
                    Err(_) => DestKind::Missing,
                }
            }
            Err(_) => DestKind::Unknown,
        };
        let shape = stage::shape(kind, sources, dest.has_trailing_slash())?;
        let (dir, name) = match shape {
            Shape::Inside => (path.to_path_buf(), None),
            Shape::Named => {
                // A symlink to a file: the file is what gets replaced.
                let real = match kind {
                    DestKind::File => std::fs::canonicalize(path).ok()?,
                    _ => path.to_path_buf(),
                };
                (
                    real.parent()?.to_path_buf(),
                    Some(real.file_name()?.to_owned()),
                )
            }
        };
        let temp = dir.join(stage::temp_name());
        // Private: nobody else sees a file before it is complete.
        let made = std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&temp)
            .map_err(|e| tracing::debug!("no temporary directory in {}: {e}", dir.display()));
        made.ok()?;
        Some(Self {
            dir,
            temp,
            name,
            keep_mode,
        })
    }

    /// What scp writes to instead of the destination.
    pub fn operand(&self) -> LocalOperand {
        LocalOperand::made(match &self.name {
            Some(name) => self.temp.join(name),
            None => self.temp.clone(),
        })
    }

    /// [`Shape::Named`]: the name the one source gets.
    pub fn named(&self) -> Option<&OsString> {
        self.name.as_ref()
    }

    /// Moves what scp wrote into place (after a failed copy, only what `whole` vouches for),
    /// then removes the temporary directory.
    pub fn commit(self, whole: Option<&WholeSizes>) -> (Landed, Option<String>) {
        let mut landed = Landed::default();
        let result = self.move_entries(whole, &mut landed);
        self.discard();
        (landed, result.err())
    }

    fn move_entries(&self, whole: Option<&WholeSizes>, landed: &mut Landed) -> Result<(), String> {
        let entries = std::fs::read_dir(&self.temp)
            .map_err(|e| format!("cannot read {}: {e}", self.temp.display()))?;
        let mut names: Vec<OsString> = entries.flatten().map(|e| e.file_name()).collect();
        names.sort();
        for name in names {
            let staged = self.temp.join(&name);
            let meta = std::fs::symlink_metadata(&staged)
                .map_err(|e| format!("cannot examine {}: {e}", staged.display()))?;
            let size = meta.is_file().then_some(meta.len());
            if !stage::may_land(whole, &name, size) {
                landed.left_out.push(name);
                continue;
            }
            // scp's copy of a host's tree holds files, not links.
            let tree = local_tree::walk(std::slice::from_ref(&staged), local_tree::Links::AsLinks);
            merge(&staged, &self.dir.join(&name), self.keep_mode)?;
            landed.files += tree.count();
            landed.bytes += tree.bytes();
            landed.entries.push(name);
        }
        Ok(())
    }

    /// Removes the temporary directory and whatever is left in it.
    pub fn discard(self) {
        if let Err(e) = std::fs::remove_dir_all(&self.temp)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("cannot remove {}: {e}", self.temp.display());
        }
    }
}

/// Puts `from` at `to`: a rename, except that a directory meeting a directory is merged into it
/// entry by entry, and a file replacing a file keeps that file's mode when `keep_mode`.
fn merge(from: &Path, to: &Path, keep_mode: bool) -> Result<(), String> {
    let mut stack = vec![(from.to_path_buf(), to.to_path_buf())];
    let mut emptied = Vec::new();
    while let Some((from, to)) = stack.pop() {
        let source = std::fs::symlink_metadata(&from)
            .map_err(|e| format!("cannot examine {}: {e}", from.display()))?;
        match std::fs::symlink_metadata(&to) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot examine {}: {e}", to.display())),
            Ok(existing) if existing.is_dir() && source.is_dir() => {
                let children = std::fs::read_dir(&from)
                    .map_err(|e| format!("cannot read {}: {e}", from.display()))?;
                for child in children.flatten() {
                    stack.push((child.path(), to.join(child.file_name())));
                }
                emptied.push(from);
                continue;
            }
            Ok(existing) if existing.is_dir() => {
                return Err(format!(
                    "{} is a directory, so the file copied there was not put in place",
                    to.display()
                ));
            }
            Ok(_) if source.is_dir() => {
                return Err(format!(
                    "{} is not a directory, so the directory copied there was not put in place",
                    to.display()
                ));
            }
            Ok(existing) if keep_mode && existing.is_file() && source.is_file() => {
                let mode = existing.permissions().mode() & 0o7777;
                std::fs::set_permissions(&from, std::fs::Permissions::from_mode(mode))
                    .map_err(|e| format!("cannot keep the mode of {}: {e}", to.display()))?;
            }
            Ok(_) => {}
        }
        std::fs::rename(&from, &to)
            .map_err(|e| format!("cannot move the copy into place at {}: {e}", to.display()))?;
    }
    for dir in emptied.into_iter().rev() {
        let _ = std::fs::remove_dir(dir);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn operand(p: &Path) -> LocalOperand {
        LocalOperand::parse("d", &p.display().to_string(), None, None).unwrap()
    }

    /// What scp would do, by hand: write into the stage's operand.
    fn write(p: &Path, bytes: &[u8]) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".ssh-mcp-"))
            .collect()
    }

    #[test]
    fn a_file_replaces_the_old_one_keeping_its_mode_and_nothing_is_left_behind() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("f");
        std::fs::write(&dest, b"old").unwrap();
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o640)).unwrap();
        let stage = LocalStage::prepare(&operand(&dest), 1, true).unwrap();
        let to = stage.operand();
        assert_eq!(to.as_path().parent().unwrap().parent().unwrap(), d.path());
        write(to.as_path(), b"new!");
        assert_eq!(
            std::fs::read(&dest).unwrap(),
            b"old",
            "in place only at the end"
        );
        let (landed, error) = stage.commit(None);
        assert_eq!(error, None);
        assert_eq!((landed.files, landed.bytes), (1, 4));
        assert_eq!(std::fs::read(&dest).unwrap(), b"new!");
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert!(leftovers(d.path()).is_empty());
    }

    #[test]
    fn a_discarded_stage_leaves_the_destination_as_it_was() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("f");
        std::fs::write(&dest, b"old").unwrap();
        let stage = LocalStage::prepare(&operand(&dest), 1, true).unwrap();
        write(stage.operand().as_path(), b"fragm");
        stage.discard();
        assert_eq!(std::fs::read(&dest).unwrap(), b"old");
        assert!(leftovers(d.path()).is_empty());
    }

    #[test]
    fn a_tree_merges_into_an_existing_directory_and_a_link_is_followed() {
        let d = tempfile::tempdir().unwrap();
        write(&d.path().join("dst/t/keep"), b"kept");
        write(&d.path().join("dst/t/over"), b"old");
        let stage = LocalStage::prepare(&operand(&d.path().join("dst")), 2, false).unwrap();
        let temp = stage.operand().as_path().to_path_buf();
        write(&temp.join("t/over"), b"new");
        write(&temp.join("t/sub/deep"), b"deep");
        write(&temp.join("single"), b"s");
        let (landed, error) = stage.commit(None);
        assert_eq!(error, None);
        assert_eq!((landed.files, landed.bytes), (3, 8));
        let dst = d.path().join("dst");
        assert_eq!(std::fs::read(dst.join("t/keep")).unwrap(), b"kept");
        assert_eq!(std::fs::read(dst.join("t/over")).unwrap(), b"new");
        assert_eq!(std::fs::read(dst.join("t/sub/deep")).unwrap(), b"deep");
        assert!(leftovers(&dst).is_empty());

        // Through a symlink to a file: the file changes, the link stays.
        std::os::unix::fs::symlink(dst.join("single"), d.path().join("link")).unwrap();
        let stage = LocalStage::prepare(&operand(&d.path().join("link")), 1, false).unwrap();
        write(stage.operand().as_path(), b"via link");
        assert_eq!(stage.commit(None).1, None);
        assert!(
            std::fs::symlink_metadata(d.path().join("link"))
                .unwrap()
                .is_symlink()
        );
        assert_eq!(std::fs::read(dst.join("single")).unwrap(), b"via link");
    }

    #[test]
    fn after_a_failed_copy_only_whole_files_land() {
        let d = tempfile::tempdir().unwrap();
        let stage = LocalStage::prepare(&operand(d.path()), 3, false).unwrap();
        let temp = stage.operand().as_path().to_path_buf();
        write(&temp.join("whole"), b"12345");
        write(&temp.join("cut"), b"12");
        write(&temp.join("tree/x"), b"1");
        let whole: WholeSizes = [(OsString::from("whole"), 5), (OsString::from("cut"), 9)]
            .into_iter()
            .collect::<HashMap<_, _>>();
        let (landed, error) = stage.commit(Some(&whole));
        assert_eq!(error, None);
        assert_eq!(landed.entries, vec![OsString::from("whole")]);
        assert_eq!((landed.files, landed.bytes), (1, 5));
        assert_eq!(landed.left_out.len(), 2);
        assert!(!d.path().join("cut").exists() && !d.path().join("tree").exists());
        assert!(leftovers(d.path()).is_empty());
    }

    #[test]
    fn where_nothing_is_at_stake_scp_writes_in_place() {
        let d = tempfile::tempdir().unwrap();
        let missing =
            LocalOperand::parse("d", &format!("{}/new/", d.path().display()), None, None).unwrap();
        assert!(LocalStage::prepare(&missing, 1, false).is_none());
        assert!(LocalStage::prepare(&operand(Path::new("/dev/null")), 1, false).is_none());
        std::fs::write(d.path().join("f"), b"").unwrap();
        assert!(LocalStage::prepare(&operand(&d.path().join("f")), 2, false).is_none());
    }
}
