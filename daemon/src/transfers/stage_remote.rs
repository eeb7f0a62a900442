//! An upload's stage (`stage.rs`) on the host, over SFTP on the pool's master: scp writes into a
//! temporary directory beside the remote destination, and what it wrote is renamed into place
//! (posix-rename, atomic) when the copy is complete. The SFTP session stays open for the copy,
//! so putting things in place costs no new channel.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use openssh_sftp_client::fs::Fs;
use openssh_sftp_client::metadata::{MetaData, Permissions, RawPermissions};
use openssh_sftp_client::{Error as SftpError, Sftp};
use ssh_mcp_core::ssh::transfers::paths::RemotePath;
use tokio_util::task::TaskTracker;

use super::spec::TransferSpec;
use super::stage::{self, DestKind, Landed, Shape, WholeSizes};
use crate::connection::sftp::{self, RemoteFs};
use crate::files::messages::is_missing;
use crate::files::remote_path;
use crate::state::Daemon;

/// A temporary directory beside an upload's destination.
pub struct RemoteStage {
    remote: RemoteFs,
    /// The directory the entries land in, as SFTP paths go (relative to the home directory, or
    /// absolute).
    dir: PathBuf,
    /// The temporary directory inside `dir`.
    temp: PathBuf,
    /// [`Shape::Named`]: the one entry's name (the destination's).
    name: Option<String>,
    /// Replacing a file keeps its mode (scp without -p).
    keep_mode: bool,
}

fn is_dir(m: &MetaData) -> bool {
    m.file_type().is_some_and(|t| t.is_dir())
}

fn is_file(m: &MetaData) -> bool {
    m.file_type().is_some_and(|t| t.is_file())
}

fn is_symlink(m: &MetaData) -> bool {
    m.file_type().is_some_and(|t| t.is_symlink())
}

impl RemoteStage {
    /// The stage for an upload of `sources` sources to `dest`, or None when scp should write in
    /// place (see `stage.rs`; also when no SFTP session opens, so that scp reports why).
    pub async fn prepare(
        daemon: &Daemon,
        spec: &TransferSpec,
        dest: &RemotePath,
        sources: usize,
        keep_mode: bool,
    ) -> Option<Self> {
        let remote = RemoteFs::open(&daemon.masters, &spec.conn, spec.auth_sock.as_deref())
            .await
            .map_err(|e| tracing::debug!("no SFTP session for staging: {e}"))
            .ok()?;
        let plan = plan(&remote, dest, sources).await;
        let Some((dir, name)) = plan else {
            remote.close().await;
            return None;
        };
        let temp = dir.join(stage::temp_name());
        let mut fs = remote.sftp().fs();
        // Private: nobody else sees a file before it is complete.
        let made = fs
            .dir_builder()
            .permissions(Permissions::from_raw(RawPermissions::from_bits_truncate(
                0o700,
            )))
            .create(&temp)
            .await;
        drop(fs);
        if let Err(e) = made {
            tracing::debug!("no temporary directory in {}: {e}", dir.display());
            remote.close().await;
            return None;
        }
        Some(Self {
            remote,
            dir,
            temp,
            name,
            keep_mode,
        })
    }

    /// What scp writes to instead of the destination.
    pub fn operand(&self) -> RemotePath {
        let path = match &self.name {
            Some(name) => self.temp.join(name),
            None => self.temp.clone(),
        };
        RemotePath::made(path.to_string_lossy().into_owned())
    }

    /// [`Shape::Named`]: the name the one source gets.
    pub fn named(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Moves what scp wrote into place (after a failed copy, only what `whole` vouches for),
    /// then removes the temporary directory; the session closes on `tracker`, after the answer.
    /// The answer counts the entries that are regular files; the files inside a directory are
    /// counted from the local side, which knows them.
    pub async fn commit(
        self,
        whole: Option<&WholeSizes>,
        tracker: &TaskTracker,
    ) -> (Landed, Option<String>) {
        let mut landed = Landed::default();
        let result = self.move_entries(whole, &mut landed).await;
        let mut fs = self.remote.sftp().fs();
        // Empty once everything moved; otherwise what was left out goes too.
        if fs.remove_dir(&self.temp).await.is_err() {
            remove_tree(&mut fs, &self.temp).await;
        }
        drop(fs);
        tracker.spawn(self.remote.close());
        (landed, result.err())
    }

    async fn move_entries(
        &self,
        whole: Option<&WholeSizes>,
        landed: &mut Landed,
    ) -> Result<(), String> {
        let sftp = self.remote.sftp();
        // A complete copy to a known name needs no look first (a round trip less on every
        // plain copy); otherwise each entry is examined before it may land.
        let entries = match (&self.name, whole) {
            (Some(name), None) => vec![(name.clone(), None)],
            _ => list(&mut sftp.fs(), &self.temp)
                .await
                .map_err(|e| format!("cannot list {}: {e}", self.temp.display()))?
                .into_iter()
                .map(|(name, meta)| (name, Some(meta)))
                .collect(),
        };
        for (name, meta) in entries {
            let name_os = OsString::from(&name);
            if let Some(meta) = &meta {
                let size = is_file(meta).then(|| meta.len()).flatten();
                if !stage::may_land(whole, &name_os, size) {
                    landed.left_out.push(name_os);
                    continue;
                }
            }
            let moved = merge(
                sftp,
                &self.temp.join(&name),
                &self.dir.join(&name),
                self.keep_mode,
            )
            .await?;
            if let Some(size) = is_file(&moved).then(|| moved.len()).flatten() {
                landed.files += 1;
                landed.bytes += size;
            }
            landed.entries.push(name_os);
        }
        Ok(())
    }

    /// Removes the temporary directory and whatever is in it, and closes the session.
    pub async fn discard(self) {
        let mut fs = self.remote.sftp().fs();
        remove_tree(&mut fs, &self.temp).await;
        drop(fs);
        self.remote.close().await;
    }
}

/// The directory and (for [`Shape::Named`]) the name of what scp will write, from what is at
/// the destination now; None when scp should write in place.
async fn plan(
    remote: &RemoteFs,
    dest: &RemotePath,
    sources: usize,
) -> Option<(PathBuf, Option<String>)> {
    let target = remote_path::for_sftp(dest.as_str());
    let mut fs = remote.sftp().fs();
    // Both at once: the link itself matters when the destination is missing (a symlink to
    // nothing) or a file (a symlink to a file).
    let mut link_fs = remote.sftp().fs();
    let (followed, link) = tokio::join!(fs.metadata(&target), link_fs.symlink_metadata(&target));
    let kind = match followed {
        Ok(m) if is_dir(&m) => DestKind::Dir,
        Ok(m) if is_file(&m) => DestKind::File,
        Ok(_) => DestKind::Other,
        Err(e) if is_missing(&e) => match link {
            Ok(_) => DestKind::Unknown,
            Err(_) => DestKind::Missing,
        },
        Err(_) => DestKind::Unknown,
    };
    match stage::shape(kind, sources, dest.as_str().ends_with('/'))? {
        Shape::Inside => Some((target, None)),
        Shape::Named => {
            // A symlink to a file: the file is what gets replaced.
            let real = match link {
                Ok(m) if kind == DestKind::File && is_symlink(&m) => {
                    fs.canonicalize(&target).await.ok()?
                }
                _ => target,
            };
            let name = real.file_name()?.to_string_lossy().into_owned();
            let dir = match real.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            Some((dir, Some(name)))
        }
    }
}

/// The entries of a remote directory with their attributes (not following links), without `.`
/// and `..`.
async fn list(fs: &mut Fs, dir: &Path) -> Result<Vec<(String, MetaData)>, SftpError> {
    let mut entries: Vec<(String, MetaData)> = sftp::dir_entries(fs, dir)
        .await?
        .into_iter()
        .map(|(name, entry)| (name, entry.metadata()))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

/// Puts `from` at `to`: a rename, except that a directory meeting a directory is merged into it
/// entry by entry, and a file replacing a file keeps that file's mode when `keep_mode`. Returns
/// what `from` was.
async fn merge(sftp: &Sftp, from: &Path, to: &Path, keep_mode: bool) -> Result<MetaData, String> {
    let mut fs = sftp.fs();
    let mut to_fs = sftp.fs();
    let mut stack = vec![(from.to_path_buf(), to.to_path_buf())];
    let mut emptied = Vec::new();
    let mut top = None;
    while let Some((from, to)) = stack.pop() {
        // Both sides at once: one round trip per entry instead of two.
        let (source, existing) =
            tokio::join!(fs.symlink_metadata(&from), to_fs.symlink_metadata(&to));
        let source = source.map_err(|e| format!("cannot examine {}: {e}", from.display()))?;
        if top.is_none() {
            top = Some(source);
        }
        match existing {
            Err(e) if is_missing(&e) => {}
            Err(e) => return Err(format!("cannot examine {}: {e}", to.display())),
            Ok(existing) if is_dir(&existing) && is_dir(&source) => {
                let children = list(&mut fs, &from)
                    .await
                    .map_err(|e| format!("cannot list {}: {e}", from.display()))?;
                for (child, _) in children {
                    stack.push((from.join(&child), to.join(&child)));
                }
                emptied.push(from);
                continue;
            }
            Ok(existing) if is_dir(&existing) => {
                return Err(format!(
                    "{} is a directory on the host, so the file copied there was not put in place",
                    to.display()
                ));
            }
            Ok(_) if is_dir(&source) => {
                return Err(format!(
                    "{} is not a directory on the host, so the directory copied there was not \
                     put in place",
                    to.display()
                ));
            }
            Ok(existing) if keep_mode && is_file(&existing) && is_file(&source) => {
                if let Some(perm) = existing.permissions() {
                    fs.set_permissions(&from, perm)
                        .await
                        .map_err(|e| format!("cannot keep the mode of {}: {e}", to.display()))?;
                }
            }
            Ok(_) => {}
        }
        fs.rename(&from, &to).await.map_err(|e| {
            format!(
                "cannot move the copy into place at {} on the host: {e}",
                to.display()
            )
        })?;
    }
    for dir in emptied.into_iter().rev() {
        let _ = fs.remove_dir(&dir).await;
    }
    top.ok_or_else(|| format!("nothing to move at {}", from.display()))
}

/// Removes `root` and everything under it, as far as it can (a failure is logged).
async fn remove_tree(fs: &mut Fs, root: &Path) {
    let mut stack = vec![root.to_path_buf()];
    let mut dirs = Vec::new();
    while let Some(dir) = stack.pop() {
        let entries = match list(fs, &dir).await {
            Ok(entries) => entries,
            Err(e) if is_missing(&e) => continue,
            Err(e) => {
                tracing::warn!("cannot list {} to remove it: {e}", dir.display());
                continue;
            }
        };
        for (name, meta) in entries {
            let path = dir.join(name);
            if is_dir(&meta) {
                stack.push(path);
            } else if let Err(e) = fs.remove_file(&path).await {
                tracing::warn!("cannot remove {}: {e}", path.display());
            }
        }
        dirs.push(dir);
    }
    for dir in dirs.into_iter().rev() {
        if let Err(e) = fs.remove_dir(&dir).await
            && !is_missing(&e)
        {
            tracing::warn!("cannot remove {}: {e}", dir.display());
        }
    }
}
