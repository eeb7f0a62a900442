//! Rewriting a file in place, for an edit that cannot replace it atomically (`not_atomic`):
//! the same inode is opened for writing (no create, no truncate), the new content is written
//! from offset 0, the file is cut to its new length and fsynced. Owner, group, hard links, ACL
//! and extended attributes stay, since the file stays. The edit calls this only after checking
//! that the file still holds exactly the bytes it read, so those bytes are a verified copy of
//! the file: when the write fails part-way (or its deadline passes) they are written back.
//!
//! A write by an account without CAP_FSETID makes Linux clear the set-user-ID bit (and the
//! set-group-ID bit when group execute is set), so the mode is set again afterwards; only the
//! file's owner may, and the result says when the bits could not be kept.

use std::path::Path;

use openssh_sftp_client::Sftp;
use openssh_sftp_client::file::File;
use openssh_sftp_client::metadata::{MetaData, Permissions};

use super::write;

/// The mode bits of a stat (type bits aside).
pub fn mode_of(m: &MetaData) -> Option<u32> {
    m.permissions().map(|p| p.as_raw().bits() & 0o7777)
}

/// Opens the file for writing in place (it must exist; nothing is created or truncated).
pub async fn open(sftp: &Sftp, target: &Path) -> Result<File, openssh_sftp_client::Error> {
    sftp.options().write(true).open(target).await
}

/// Writes `content` over the file from offset 0, cuts it to that length and fsyncs it.
pub async fn write_over(
    sftp: &Sftp,
    file: File,
    content: &[u8],
) -> Result<File, openssh_sftp_client::Error> {
    let mut file = write::all(file, content).await?;
    file.set_len(content.len() as u64).await?;
    if sftp.support_fsync() {
        file.sync_all().await?;
    }
    Ok(file)
}

/// Puts `original` back into the file after a write in place that did not finish.
pub async fn restore(
    sftp: &Sftp,
    target: &Path,
    original: &[u8],
) -> Result<(), openssh_sftp_client::Error> {
    let file = open(sftp, target).await?;
    write_over(sftp, file, original).await?.close().await
}

/// Sets the mode `mode` of `target` again when the write changed it. Returns a sentence for
/// the result when it could not be kept. (By path: a handle opened for writing only cannot be
/// asked for its metadata by the client.)
pub async fn keep_mode(sftp: &Sftp, target: &Path, mode: Option<u32>) -> Option<String> {
    let want = mode?;
    let mut fs = sftp.fs();
    let now = fs.metadata(target).await.ok().and_then(|m| mode_of(&m));
    if now == Some(want) {
        return None;
    }
    let set = Permissions::from(want as u16);
    let kept = fs.set_permissions(target, set).await.is_ok()
        && fs.metadata(target).await.ok().and_then(|m| mode_of(&m)) == Some(want);
    (!kept).then(|| {
        format!(
            "Its mode went from {want:04o} to {} with the write (Linux clears the set-user-ID and \
             set-group-ID bits when another account writes a file), and only its owner can set \
             it back.",
            now.map_or("unknown".into(), |m| format!("{m:04o}"))
        )
    })
}
