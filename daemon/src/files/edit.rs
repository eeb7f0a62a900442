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

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use openssh_sftp_client::Sftp;
use openssh_sftp_client::file::File;
use openssh_sftp_client::metadata::{MetaData, MetaDataBuilder, Permissions};
use tokio::time::Instant;

use super::host_facts::Probe;
use super::in_place::{self, mode_of};
use super::not_atomic::NotAtomic;
use super::path_locks::PathLocks;
use super::replace::{self, Edit};
use super::sftp_errors::brief;
use super::write::{self, Opening};
use super::{binary, messages, read, remote_path, sftp_errors};
use crate::error::DaemonError;

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

enum Written {
    Done,
    /// The target changed since it was read; nothing was written.
    Changed,
    /// A new file cannot stand for the old one; nothing was written.
    NotAtomic(NotAtomic),
}

/// The atomic write: a new file beside the target made the same as it (owner, group, mode),
/// then renamed over it.
async fn by_rename<'a>(
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
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::super::local_sftp::{LocalProbe, LocalSftp};
    use super::*;

    /// One edit with a fresh set of turns and the local sh as the host.
    async fn edit(
        s: &LocalSftp,
        r: &EditRequest,
        deadline: Option<Instant>,
    ) -> Result<Edited, DaemonError> {
        edit_with(s, r, deadline, || {}).await
    }

    async fn edit_with(
        s: &LocalSftp,
        r: &EditRequest,
        deadline: Option<Instant>,
        between: impl FnMut() + Send,
    ) -> Result<Edited, DaemonError> {
        let locks = PathLocks::default();
        let ctx = Context {
            locks: &locks,
            host: "local",
            probe: LocalProbe {
                home: s.home.path().to_path_buf(),
            },
        };
        super::edit_with(&s.sftp, r, deadline, &ctx, between).await
    }

    fn req(path: &str, edits: &[(&str, &str)]) -> EditRequest {
        EditRequest {
            path: path.into(),
            edits: edits
                .iter()
                .map(|(o, n)| Edit {
                    old_str: (*o).into(),
                    new_str: (*n).into(),
                    replace_all: false,
                })
                .collect(),
        }
    }

    fn mode(s: &LocalSftp, name: &str) -> u32 {
        std::fs::metadata(s.at(name)).unwrap().permissions().mode() & 0o7777
    }

    #[tokio::test]
    async fn bytes_outside_the_edit_and_the_mode_are_kept() {
        let s = LocalSftp::start().await;
        s.write("f", b"caf\xe9\r\nkey = old\r\n\xff end\r\n");
        std::fs::set_permissions(s.at("f"), std::fs::Permissions::from_mode(0o751)).unwrap();
        let e = edit(&s, &req("f", &[("old", "new")]), None).await.unwrap();
        assert_eq!(s.read("f"), b"caf\xe9\r\nkey = new\r\n\xff end\r\n");
        assert_eq!(
            e,
            Edited {
                edits_applied: 1,
                replacements: 1,
                bytes_written: 24,
                atomic: true,
                note: None,
            }
        );
        assert_eq!(mode(&s, "f"), 0o751);
        assert_eq!(s.names(s.home.path()), ["f"], "no temporary file is left");
    }

    #[tokio::test]
    async fn a_symlink_stays_a_link_to_the_edited_file() {
        let s = LocalSftp::start().await;
        std::fs::create_dir(s.at("real")).unwrap();
        s.write("real/t", b"a b");
        std::os::unix::fs::symlink("real/t", s.at("link")).unwrap();
        edit(&s, &req("~/link", &[("a", "z")]), None).await.unwrap();
        assert!(
            std::fs::symlink_metadata(s.at("link"))
                .unwrap()
                .is_symlink()
        );
        assert_eq!(s.read("real/t"), b"z b");
        assert_eq!(s.names(&s.at("real")), ["t"]);
    }

    #[tokio::test]
    async fn a_symlink_to_a_name_that_is_not_utf8_is_refused_clearly() {
        use std::os::unix::ffi::OsStrExt;
        let s = LocalSftp::start().await;
        let target = s.at("").join(std::ffi::OsStr::from_bytes(b"caf\xe9"));
        std::fs::write(&target, b"a").unwrap();
        std::os::unix::fs::symlink(&target, s.at("link")).unwrap();
        let e = edit(&s, &req("link", &[("a", "b")]), None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("not valid UTF-8"), "{e}");
        assert_eq!(std::fs::read(&target).unwrap(), b"a");
    }

    #[tokio::test]
    async fn a_file_changed_between_read_and_write_is_edited_again() {
        let s = LocalSftp::start().await;
        s.write("f", b"one two\n");
        let target = s.at("f");
        // Same size, same second: only the bytes tell. The edit is done again on what is there.
        let mut once = Some(b"ONE two\n");
        let writer = || {
            if let Some(bytes) = once.take() {
                std::fs::write(&target, bytes).unwrap();
            }
        };
        let e = edit_with(&s, &req("f", &[("two", "2")]), None, writer)
            .await
            .unwrap();
        assert_eq!((e.replacements, e.atomic), (1, true));
        assert_eq!(s.read("f"), b"ONE 2\n", "both changes are there");
        assert_eq!(s.names(s.home.path()), ["f"], "no temporary file is left");
        // A change that takes away what the edit looks for refuses it; nothing is written.
        let writer = || std::fs::write(&target, b"longer now\n").unwrap();
        let e = edit_with(&s, &req("f", &[("ONE", "1")]), None, writer).await;
        assert_eq!(
            e.unwrap_err().to_string(),
            "'edits[0].old_str' was not found in the file (checked after applying any earlier edits in this call)."
        );
        assert_eq!(s.read("f"), b"longer now\n");
        assert_eq!(s.names(s.home.path()), ["f"]);
    }

    #[tokio::test]
    async fn a_file_that_keeps_changing_is_refused() {
        let s = LocalSftp::start().await;
        s.write("f", b"n = 0\n");
        let target = s.at("f");
        let mut writes = 0;
        // Someone writes the file every time the edit has read it.
        let writer = || {
            writes += 1;
            std::fs::write(&target, format!("n = {writes}\n")).unwrap();
        };
        let e = edit_with(&s, &req("f", &[("n", "m")]), None, writer)
            .await
            .unwrap_err();
        assert!(
            e.to_string().starts_with("Remote file changed on the host"),
            "{e}"
        );
        assert!(e.to_string().contains("nothing was written"), "{e}");
        assert_eq!(writes, MAX_ATTEMPTS);
        assert_eq!(s.read("f"), format!("n = {MAX_ATTEMPTS}\n").as_bytes());
        assert_eq!(s.names(s.home.path()), ["f"]);
    }

    #[tokio::test]
    async fn a_file_removed_before_the_write_is_not_recreated() {
        let s = LocalSftp::start().await;
        s.write("f", b"x\n");
        let target = s.at("f");
        let remover = || {
            let _ = std::fs::remove_file(&target);
        };
        let e = edit_with(&s, &req("f", &[("x", "y")]), None, remover).await;
        assert_eq!(e.unwrap_err().to_string(), "Remote path does not exist: f");
        assert!(s.names(s.home.path()).is_empty());
    }

    #[tokio::test]
    async fn failing_edits_write_nothing() {
        let s = LocalSftp::start().await;
        s.write("f", b"x = 1\nx = 1\n");
        let e = edit(&s, &req("f", &[("x = 1", "x = 2")]), None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("matches 2 locations"), "{e}");
        let e = edit(&s, &req("f", &[("1\nx", "1\ny"), ("zzz", "")]), None)
            .await
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("'edits[1].old_str' was not found"),
            "{e}"
        );
        assert_eq!(s.read("f"), b"x = 1\nx = 1\n");
        assert_eq!(s.names(s.home.path()), ["f"]);
    }

    #[tokio::test]
    async fn replace_all_counts_its_replacements() {
        let s = LocalSftp::start().await;
        s.write("f", b"x = 1\nx = 1\n");
        let mut r = req("f", &[("1", "2")]);
        r.edits[0].replace_all = true;
        let e = edit(&s, &r, None).await.unwrap();
        assert_eq!((e.edits_applied, e.replacements), (1, 2));
        assert_eq!(s.read("f"), b"x = 2\nx = 2\n");
    }

    #[tokio::test]
    async fn binary_files_directories_and_missing_files_are_refused() {
        let s = LocalSftp::start().await;
        s.write("bin", b"ELF\x00\x01old");
        let e = edit(&s, &req("bin", &[("old", "new")]), None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("binary"), "{e}");
        assert_eq!(s.read("bin"), b"ELF\x00\x01old");
        std::fs::create_dir(s.at("d")).unwrap();
        let e = edit(&s, &req("d", &[("a", "b")]), None).await.unwrap_err();
        assert_eq!(e.to_string(), "Remote path is a directory, not a file: d");
        let e = edit(&s, &req("gone", &[("a", "b")]), None)
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "Remote path does not exist: gone");
        let e = edit(&s, &req("/dev/null", &[("a", "b")]), None)
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Remote path exists but is not a regular file: /dev/null"
        );
        std::os::unix::fs::symlink("nowhere", s.at("dangling")).unwrap();
        let e = edit(&s, &req("dangling", &[("a", "b")]), None)
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "Remote path does not exist: dangling");
    }

    #[tokio::test]
    async fn an_expired_deadline_writes_nothing() {
        let s = LocalSftp::start().await;
        s.write("f", b"abc");
        let e = edit(
            &s,
            &req("f", &[("b", "x")]),
            Some(Instant::now() - Duration::from_secs(1)),
        )
        .await
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Remote operation on 'f' timed out. Nothing was written."
        );
        assert_eq!(s.read("f"), b"abc");
    }

    #[tokio::test]
    async fn odd_names_are_edited_in_place() {
        let s = LocalSftp::start().await;
        for name in ["-dash", "sp ace", "qu'ote\"", "new\nline"] {
            s.write(name, b"before");
            edit(&s, &req(name, &[("before", "after")]), None)
                .await
                .unwrap();
            assert_eq!(s.read(name), b"after");
        }
        assert_eq!(s.names(s.home.path()).len(), 4);
    }

    #[tokio::test]
    async fn a_deadline_during_the_open_of_the_new_file_leaves_nothing() {
        let (s, held) = LocalSftp::holding_creates().await;
        s.write("f", b"old\n");
        let deadline = Instant::now() + Duration::from_secs(3);
        let r = req("f", &[("old", "new")]);
        let call = edit(&s, &r, Some(deadline));
        // The server has made the temporary file; its answer comes only after the deadline.
        let server_late = async {
            held.create_sent().await;
            tokio::time::sleep_until(deadline + Duration::from_millis(50)).await;
            held.release();
        };
        let (e, ()) = tokio::join!(call, server_late);
        assert_eq!(
            e.unwrap_err().to_string(),
            "Remote operation on 'f' timed out. Nothing was written."
        );
        assert_eq!(held.creates(), 1);
        assert_eq!(s.read("f"), b"old\n");
        assert_eq!(s.names(s.home.path()), ["f"], "no temporary file is left");
    }

    #[tokio::test]
    async fn hard_links_stay_one_file() {
        let s = LocalSftp::start().await;
        s.write("f", b"shared old\n");
        std::fs::hard_link(s.at("f"), s.at("g")).unwrap();
        let e = edit(&s, &req("f", &[("old", "new")]), None).await.unwrap();
        assert!(!e.atomic);
        let note = e.note.unwrap();
        assert!(
            note.starts_with("Not atomic: it has 2 hard links, which a new file would not share, so the file was rewritten in place"),
            "{note}"
        );
        assert_eq!(s.read("g"), b"shared new\n", "the other name sees the edit");
        assert_eq!(e.bytes_written, 11);
        assert_eq!(s.names(s.home.path()), ["f", "g"]);
        // Shorter content is cut to its length.
        edit(&s, &req("g", &[("shared new", "x")]), None)
            .await
            .unwrap();
        assert_eq!(s.read("f"), b"x\n");
    }

    #[tokio::test]
    async fn extended_attributes_stay_with_the_file() {
        use std::os::unix::ffi::OsStrExt;
        let s = LocalSftp::start().await;
        let f = s.write("f", b"a\n");
        let c = |b: &[u8]| std::ffi::CString::new(b).unwrap();
        let (path, name) = (c(f.as_os_str().as_bytes()), c(b"user.origin"));
        // SAFETY: valid NUL-terminated strings and a buffer of the length given.
        let set =
            unsafe { libc::setxattr(path.as_ptr(), name.as_ptr(), b"x".as_ptr().cast(), 1, 0) };
        assert_eq!(set, 0, "{}", std::io::Error::last_os_error());
        let e = edit(&s, &req("f", &[("a", "b")]), None).await.unwrap();
        assert!(!e.atomic);
        assert!(
            e.note
                .unwrap()
                .contains("extended attributes (user.origin)")
        );
        assert_eq!(s.read("f"), b"b\n");
        let mut buf = [0u8; 8];
        // SAFETY: as above.
        let got = unsafe {
            libc::getxattr(
                path.as_ptr(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        assert_eq!(got, 1, "the attribute is still there");
    }

    #[tokio::test]
    async fn the_mode_is_set_after_the_write() {
        let s = LocalSftp::start().await;
        s.write("f", b"#!/bin/sh\nold\n");
        std::fs::set_permissions(s.at("f"), std::fs::Permissions::from_mode(0o4755)).unwrap();
        let e = edit(&s, &req("f", &[("old", "new")]), None).await.unwrap();
        assert!(e.atomic);
        assert_eq!(mode(&s, "f"), 0o4755);
    }
}
