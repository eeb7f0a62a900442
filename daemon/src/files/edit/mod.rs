//! `ssh_edit` over SFTP, on bytes. The flow: find the real file (a symlink is followed, so the
//! link stays a link), wait for the file's turn ([`PathLocks`]: edits of one file through this
//! daemon take turns), read it, refuse directories, other non-regular files and binary content,
//! apply the edits ([`replace`]), then write the result in one of two ways.
//!
//! - Atomic, when a new file can be exactly what the old one was: a hidden file beside the
//!   target (exclusive create), given the target's owner and group (root can give any owner; an
//!   owner can give a group it is in, SFTP's setstat doing fchown), written, fsynced, given the
//!   target's mode (after the write, which clears set-id bits), then renamed over the target
//!   (posix-rename). Readers see the old file or the new one, never a mix.
//! - In place ([`in_place`]), when it cannot: another owner, a group the account is not in,
//!   hard links, an ACL or extended attributes (`host_facts` asks the host, since SFTP v3 does
//!   not say), no new file possible beside it, or the rename refused (a sticky directory). The
//!   result says so (`atomic: false` and why, [`NotAtomic`]); owner and group never change.
//!
//! Just before the rename or the write, the target must still hold what was read (size, mtime,
//! and the bytes themselves, since SFTP mtimes have whole seconds). When it changed (someone
//! else wrote it), the edit is done again on the new content, up to [`MAX_ATTEMPTS`] times, or
//! refused; it is never reported as applied when it was not. After a failure or a timeout no
//! temporary file is left: an exclusive open still in flight when the deadline passes is
//! awaited, so the file it makes is known and removed.
//!
//! The atomic write is `by_rename.rs`; the tests are in `tests.rs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use openssh_sftp_client::Sftp;
use openssh_sftp_client::metadata::MetaData;
use tokio::time::Instant;

use super::host_facts::Probe;
use super::in_place::{self, mode_of};
use super::not_atomic::NotAtomic;
use super::path_locks::PathLocks;
use super::replace::{self, Edit};
use super::sftp_errors::brief;
use super::write::Opening;
use super::{binary, messages, read, remote_path, sftp_errors};
use crate::error::DaemonError;
use by_rename::{Written, by_rename};

mod by_rename;

/// The largest file an edit reads, and the largest it writes.
pub const MAX_EDIT_BYTES: u64 = 32 << 20;

/// How many times an edit is done on new content when the file changes under it.
pub const MAX_ATTEMPTS: u32 = 3;

/// How long cleaning up after a timeout may take.
const CLEANUP_GRACE: Duration = Duration::from_secs(2);

/// How long putting the original back after an interrupted write in place may take.
const RESTORE_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct EditRequest {
    pub path: String,
    pub edits: Vec<Edit>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Edited {
    pub edits_applied: u32,
    pub replacements: u64,
    pub bytes_written: u64,
    /// The file was replaced by one rename (false: rewritten in place; `note` says why).
    pub atomic: bool,
    pub note: Option<String>,
}

/// What an edit needs besides its SFTP session: the turns of the daemon's edits, the host's
/// identity for them, and a way to ask the host what SFTP cannot say.
pub struct Context<'a, P> {
    pub locks: &'a PathLocks,
    pub host: &'a str,
    pub probe: P,
}

/// Where a call stands, for the clean-up after a failure or a timeout. It lives outside the
/// deadline, so what the timed-out steps left is still known.
#[derive(Default)]
struct Progress<'a> {
    /// The exclusive open of a temporary file, sent and not yet answered.
    opening: Option<(PathBuf, Opening<'a>)>,
    /// A temporary file exists and is ours to remove.
    temp: Option<PathBuf>,
    /// The rename was sent: the new content may be in place.
    renaming: bool,
    /// A write in place is under way: the target, and its bytes before the write.
    rewriting: Option<(PathBuf, Arc<Vec<u8>>)>,
}

pub async fn edit<P: Probe>(
    sftp: &Sftp,
    req: &EditRequest,
    deadline: Option<Instant>,
    ctx: &Context<'_, P>,
) -> Result<Edited, DaemonError> {
    edit_with(sftp, req, deadline, ctx, || {}).await
}

/// [`edit`], with `between` called in each attempt after the read and before anything is
/// written: tests use it to change the file in that window.
pub async fn edit_with<P: Probe>(
    sftp: &Sftp,
    req: &EditRequest,
    deadline: Option<Instant>,
    ctx: &Context<'_, P>,
    mut between: impl FnMut() + Send,
) -> Result<Edited, DaemonError> {
    let path = req.path.as_str();
    let mut progress = Progress::default();
    let work = steps(sftp, req, ctx, &mut between, &mut progress);
    let result = match deadline {
        Some(at) => match tokio::time::timeout_at(at, work).await {
            Ok(r) => r,
            Err(_) => Err(after_timeout(sftp, path, &mut progress).await),
        },
        None => work.await,
    };
    if result.is_err() {
        discard(sftp, &mut progress).await;
    }
    result
}

/// The answer to a timeout, once what was under way is settled: an open in flight answered,
/// a write in place undone.
async fn after_timeout(sftp: &Sftp, path: &str, progress: &mut Progress<'_>) -> DaemonError {
    let seed = messages::timed_out(path).to_string();
    settle_opening(progress).await;
    if let Some((target, original)) = progress.rewriting.take() {
        let restored =
            tokio::time::timeout(RESTORE_GRACE, in_place::restore(sftp, &target, &original)).await;
        return DaemonError::RemoteFile(match restored {
            Ok(Ok(())) => format!(
                "{seed} It was being rewritten in place; its original content was put back."
            ),
            _ => format!(
                "{seed} It was being rewritten in place and its original content could not be                  put back: it may hold part of the new content. View it and redo the edit."
            ),
        });
    }
    DaemonError::RemoteFile(if progress.renaming {
        format!("{seed} The new content may or may not be in place.")
    } else {
        format!("{seed} Nothing was written.")
    })
}

/// Waits (briefly) for the answer to an exclusive open in flight: a file it made is ours.
async fn settle_opening(progress: &mut Progress<'_>) {
    if let Some((temp, opening)) = progress.opening.take()
        && let Ok(Ok(file)) = tokio::time::timeout(CLEANUP_GRACE, opening).await
    {
        progress.temp = Some(temp);
        let _ = tokio::time::timeout(CLEANUP_GRACE, file.close()).await;
    }
}

/// Removes the temporary file, if one is ours.
async fn discard(sftp: &Sftp, progress: &mut Progress<'_>) {
    settle_opening(progress).await;
    if let Some(temp) = progress.temp.take() {
        let mut fs = sftp.fs();
        let _ = tokio::time::timeout(CLEANUP_GRACE, fs.remove_file(&temp)).await;
    }
}

pub fn changed(path: &str) -> DaemonError {
    DaemonError::RemoteFile(format!(
        "Remote file changed on the host while it was being edited, so nothing was written: \
         {path}. View it again and redo the edit."
    ))
}

/// The file the edit is about, as the server resolves it (an absolute path, symlinks followed):
/// the key of its turn, and what is read, replaced and written.
async fn real_file(sftp: &Sftp, path: &str) -> Result<PathBuf, DaemonError> {
    let remote = remote_path::for_sftp(path);
    let mut fs = sftp.fs();
    // A dangling link gets the seed's "does not exist" here.
    fs.symlink_metadata(&remote)
        .await
        .map_err(|e| sftp_errors::file_error(path, &e))?;
    fs.canonicalize(&remote).await.map_err(|e| match e {
        // The client reads paths as UTF-8; another target ends its session.
        openssh_sftp_client::Error::BackgroundTaskFailure(_) => messages::failed(
            path,
            "it resolves to a path that is not valid UTF-8, which the SFTP client cannot read",
        ),
        e => sftp_errors::file_error(path, &e),
    })
}

/// Size and mtime: what a change on the host moves (the bytes are compared as well).
type Stamp = (Option<u64>, Option<u32>);

fn stamp(m: &MetaData) -> Stamp {
    (m.len(), m.modified().map(|t| t.into_raw()))
}

async fn steps<'a, P: Probe>(
    sftp: &'a Sftp,
    req: &EditRequest,
    ctx: &Context<'_, P>,
    between: &mut (impl FnMut() + Send),
    progress: &mut Progress<'a>,
) -> Result<Edited, DaemonError> {
    let path = req.path.as_str();
    let target = real_file(sftp, path).await?;
    let _turn = ctx.locks.turn(ctx.host, &target).await;
    for _ in 0..MAX_ATTEMPTS {
        if let Some(done) = attempt(sftp, req, &target, &ctx.probe, between, progress).await? {
            return Ok(done);
        }
        tracing::debug!(
            path,
            "the file changed during the edit; editing the new content"
        );
    }
    Err(changed(path))
}

/// One read, edit and write. `None` when the file changed before the write (nothing written).
async fn attempt<'a>(
    sftp: &'a Sftp,
    req: &EditRequest,
    target: &Path,
    probe: &impl Probe,
    between: &mut (impl FnMut() + Send),
    progress: &mut Progress<'a>,
) -> Result<Option<Edited>, DaemonError> {
    let path = req.path.as_str();
    let mut fs = sftp.fs();
    let meta = fs
        .metadata(target)
        .await
        .map_err(|e| sftp_errors::file_error(path, &e))?;
    match meta.file_type() {
        Some(t) if t.is_dir() => return Err(messages::is_directory(path)),
        Some(t) if t.is_file() => {}
        _ => return Err(messages::not_regular(path)),
    }
    let (read, facts) = tokio::join!(
        read_with_stamp(sftp, target, path, meta.len()),
        probe.facts(target)
    );
    let (original, before) = read?;
    if binary::looks_binary(&original) {
        return Err(DaemonError::RemoteFile(binary::refusal(path)));
    }
    let applied = replace::apply(&original, &req.edits, MAX_EDIT_BYTES)
        .map_err(|e| DaemonError::RemoteFile(e.to_string()))?;
    between();
    let seen = Seen {
        path,
        target,
        meta: &meta,
        original: Arc::new(original),
        before,
    };
    let done = |atomic: bool, note: Option<String>| Edited {
        edits_applied: applied.edits_applied,
        replacements: applied.replacements,
        bytes_written: applied.content.len() as u64,
        atomic,
        note,
    };
    let reason = match NotAtomic::from_facts(&facts) {
        Some(reason) => reason,
        None => match by_rename(sftp, &seen, &applied.content, progress).await? {
            Written::Done => return Ok(Some(done(true, None))),
            Written::Changed => return Ok(None),
            Written::NotAtomic(reason) => reason,
        },
    };
    tracing::debug!(path, %reason, "editing in place");
    Ok(in_place(sftp, &seen, &applied.content, &reason, progress)
        .await?
        .map(|mode_note| {
            let note = match mode_note {
                Some(lost) => format!("{} {lost}", reason.note()),
                None => reason.note(),
            };
            done(false, Some(note))
        }))
}

/// What an attempt read: the target as it was, and its bytes.
struct Seen<'s> {
    path: &'s str,
    target: &'s Path,
    meta: &'s MetaData,
    original: Arc<Vec<u8>>,
    before: Stamp,
}

impl Seen<'_> {
    /// True while the target still holds exactly what was read.
    async fn unchanged(&self, sftp: &Sftp) -> Result<bool, DaemonError> {
        let now = match sftp.fs().metadata(self.target).await {
            Ok(m) => m,
            Err(e) if messages::is_missing(&e) => return Ok(false),
            Err(e) => return Err(sftp_errors::file_error(self.path, &e)),
        };
        if stamp(&now) != self.before {
            return Ok(false);
        }
        let (again, _) = read_with_stamp(sftp, self.target, self.path, now.len()).await?;
        Ok(again == *self.original)
    }
}

/// The write in place, when the target still holds what was read. `None` when it changed;
/// otherwise a sentence when the mode could not be kept.
async fn in_place(
    sftp: &Sftp,
    seen: &Seen<'_>,
    content: &[u8],
    reason: &NotAtomic,
    progress: &mut Progress<'_>,
) -> Result<Option<Option<String>>, DaemonError> {
    let path = seen.path;
    let file = in_place::open(sftp, seen.target).await.map_err(|e| {
        messages::failed(
            path,
            &format!(
                "{reason}, so it would have to be rewritten in place, and this account cannot \
                 open it for writing ({}); the file was not changed",
                brief(&e)
            ),
        )
    })?;
    if !seen.unchanged(sftp).await? {
        return Ok(None);
    }
    progress.rewriting = Some((seen.target.to_path_buf(), Arc::clone(&seen.original)));
    let written = in_place::write_over(sftp, file, content).await;
    let file = match written {
        Ok(file) => file,
        Err(e) => {
            progress.rewriting = None;
            let restored = tokio::time::timeout(
                RESTORE_GRACE,
                in_place::restore(sftp, seen.target, &seen.original),
            )
            .await;
            let after = match restored {
                Ok(Ok(())) => "its original content was put back".to_owned(),
                Ok(Err(r)) => format!(
                    "its original content could not be put back ({}): it may hold part of \
                     the new content",
                    brief(&r)
                ),
                Err(_) => "putting its original content back timed out: it may hold part of \
                           the new content"
                    .to_owned(),
            };
            return Err(messages::failed(
                path,
                &format!("writing the new content in place: {}; {after}", brief(&e)),
            ));
        }
    };
    progress.rewriting = None;
    let _ = file.close().await;
    Ok(Some(
        in_place::keep_mode(sftp, seen.target, mode_of(seen.meta)).await,
    ))
}

/// The file's bytes, and its size and mtime from the same handle once read.
async fn read_with_stamp(
    sftp: &Sftp,
    target: &Path,
    path: &str,
    size_hint: Option<u64>,
) -> Result<(Vec<u8>, Stamp), DaemonError> {
    let mut file = sftp
        .options()
        .read(true)
        .open(target)
        .await
        .map_err(|e| sftp_errors::file_error(path, &e))?;
    let content = read::all(&file, size_hint.unwrap_or(0), MAX_EDIT_BYTES, path).await?;
    let m = file
        .metadata()
        .await
        .map_err(|e| sftp_errors::file_error(path, &e))?;
    Ok((content, stamp(&m)))
}

#[cfg(test)]
mod tests;
