//! The atomic write of an edit: a new file beside the target, made the same as it (owner, group,
//! mode), written, fsynced, then renamed over it; or why a new file cannot stand for the old one
//! ([`NotAtomic`]), so that the edit is done in place instead.

use openssh_sftp_client::Sftp;
use openssh_sftp_client::file::File;
use openssh_sftp_client::metadata::{MetaData, MetaDataBuilder, Permissions};

use super::{Progress, Seen, discard};
use crate::error::DaemonError;
use crate::files::in_place::mode_of;
use crate::files::not_atomic::NotAtomic;
use crate::files::sftp_errors::brief;
use crate::files::{messages, remote_path, write};

pub(super) enum Written {
    Done,
    /// The target changed since it was read; nothing was written.
    Changed,
    /// A new file cannot stand for the old one; nothing was written.
    NotAtomic(NotAtomic),
}

/// The atomic write: a new file beside the target made the same as it (owner, group, mode),
/// then renamed over it.
pub(super) async fn by_rename<'a>(
    sftp: &'a Sftp,
    seen: &Seen<'_>,
    content: &[u8],
    progress: &mut Progress<'a>,
) -> Result<Written, DaemonError> {
    let path = seen.path;
    let temp = remote_path::temp_beside(seen.target, remote_path::nonce());
    // Kept in `progress` while in flight, so a timeout meanwhile still learns what it made.
    let opening = write::create_new(sftp, temp.clone());
    let (_, open) = progress.opening.insert((temp.clone(), opening));
    let opened = open.await;
    progress.opening = None;
    let mut file = match opened {
        Ok(f) => f,
        Err(e) => return Ok(Written::NotAtomic(NotAtomic::NoNewFile(brief(&e)))),
    };
    progress.temp = Some(temp.clone());
    let failed = |what: &str, e: &openssh_sftp_client::Error| {
        messages::failed(path, &format!("{what}: {}", brief(e)))
    };
    if let Some(reason) = same_owner(&mut file, seen.meta).await {
        drop(file);
        discard(sftp, progress).await;
        return Ok(Written::NotAtomic(reason));
    }
    let mode = mode_of(seen.meta);
    // The permission bits before the content arrives (a secret file's content never sits in a
    // file readable by more accounts than it is); the set-id bits after the write, which
    // clears them (as the chown above does).
    if let Some(bits) = mode.map(|m| m & 0o777)
        && let Some(reason) = give_mode(&mut file, bits).await
    {
        drop(file);
        discard(sftp, progress).await;
        return Ok(Written::NotAtomic(reason));
    }
    let mut file = async {
        let mut file = write::all(file, content).await?;
        if sftp.support_fsync() {
            file.sync_all().await?;
        }
        Ok(file)
    }
    .await
    .map_err(|e| failed("writing the new content", &e))?;
    if let Some(mode) = mode.filter(|m| m & 0o7000 != 0)
        && let Some(reason) = give_mode(&mut file, mode).await
    {
        drop(file);
        discard(sftp, progress).await;
        return Ok(Written::NotAtomic(reason));
    }
    file.close()
        .await
        .map_err(|e| failed("writing the new content", &e))?;
    if !seen.unchanged(sftp).await? {
        discard(sftp, progress).await;
        return Ok(Written::Changed);
    }
    progress.renaming = true;
    let renamed = sftp.fs().rename(&temp, seen.target).await;
    progress.renaming = false;
    match renamed {
        Ok(()) => {
            progress.temp = None;
            Ok(Written::Done)
        }
        // The server refused: the target is as it was (a rename happens whole or not at all).
        Err(e @ openssh_sftp_client::Error::SftpError(..)) => {
            discard(sftp, progress).await;
            Ok(Written::NotAtomic(NotAtomic::RenameRefused(brief(&e))))
        }
        Err(e) => Err(failed("replacing the file", &e)),
    }
}

/// Gives the new file `mode`, and says why not when the server refuses or drops bits (a
/// set-group-ID bit for a group the account is not in).
async fn give_mode(file: &mut File, mode: u32) -> Option<NotAtomic> {
    let set = file.set_permissions(Permissions::from(mode as u16)).await;
    let got = file.metadata().await.ok().and_then(|m| mode_of(&m));
    match (set, got) {
        (Ok(()), Some(got)) if got == mode => None,
        (Err(e), _) => Some(NotAtomic::Mode {
            mode,
            detail: brief(&e),
        }),
        (Ok(()), got) => Some(NotAtomic::Mode {
            mode,
            detail: got.map_or("its mode could not be read".into(), |g| {
                format!("it got {g:04o}")
            }),
        }),
    }
}

/// Gives the new file the target's owner and group where the server lets us, and says why not
/// when it does not.
async fn same_owner(file: &mut File, target: &MetaData) -> Option<NotAtomic> {
    let unseen = || NotAtomic::Unchecked("the new file's owner could not be read".into());
    let Ok(made) = file.metadata().await else {
        return Some(unseen());
    };
    let (Some(uid), Some(gid)) = (target.uid(), target.gid()) else {
        return None;
    };
    if (made.uid(), made.gid()) == (Some(uid), Some(gid)) {
        return None;
    }
    // Root may give any owner; an owner may give a group it is in (fchown with its own uid).
    let mut owner = MetaDataBuilder::new();
    owner.id((uid, gid));
    let _ = file.set_metadata(owner.create()).await;
    let Ok(now) = file.metadata().await else {
        return Some(unseen());
    };
    if now.uid() != Some(uid) {
        return Some(NotAtomic::Owner {
            file_uid: uid,
            own_uid: made.uid().unwrap_or(u32::MAX),
        });
    }
    (now.gid() != Some(gid)).then_some(NotAtomic::Group { file_gid: gid })
}
