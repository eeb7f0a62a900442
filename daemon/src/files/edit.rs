//! `ssh_edit` over SFTP, on bytes. The flow: find the real file (a symlink is followed, so the
//! link stays a link), read it, refuse directories, other non-regular files and binary content,
//! apply the edits ([`replace`]), write the result to a new hidden file beside the target
//! (exclusive create; the target's owner where allowed and its mode; fsync when the server
//! offers it), then check that the target still holds what was read (size, mtime, and the bytes
//! themselves, since SFTP mtimes have whole seconds) and rename the new file over it
//! (posix-rename, atomic). When the file changed on the host meanwhile, or anything fails, the
//! temporary file is removed and the target is left as it was.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use openssh_sftp_client::Sftp;
use openssh_sftp_client::metadata::{MetaData, MetaDataBuilder, Permissions};
use tokio::time::Instant;

use super::replace::{self, Edit};
use super::{binary, messages, read, remote_fs, remote_path, write};
use crate::error::DaemonError;

/// The largest file an edit reads.
pub const MAX_EDIT_BYTES: u64 = 32 << 20;

/// How long cleaning up after a timeout may take.
const CLEANUP_GRACE: Duration = Duration::from_secs(2);

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
}

/// Where a call stands, for the clean-up after a failure or a timeout.
#[derive(Debug, Default)]
struct Progress {
    /// A temporary file exists and is ours to remove.
    temp: Option<PathBuf>,
    /// The rename was sent: the new content may be in place.
    renaming: bool,
}

pub async fn edit(
    sftp: &Sftp,
    req: &EditRequest,
    deadline: Option<Instant>,
) -> Result<Edited, DaemonError> {
    edit_with(sftp, req, deadline, async {}).await
}

/// [`edit`], with `between` awaited after the read and before anything is written: tests use
/// it to change the file in that window.
pub async fn edit_with(
    sftp: &Sftp,
    req: &EditRequest,
    deadline: Option<Instant>,
    between: impl Future<Output = ()>,
) -> Result<Edited, DaemonError> {
    let path = req.path.as_str();
    let mut progress = Progress::default();
    let work = steps(sftp, req, between, &mut progress);
    let result = match deadline {
        Some(at) => match tokio::time::timeout_at(at, work).await {
            Ok(r) => r,
            Err(_) => Err(timed_out(path, progress.renaming)),
        },
        None => work.await,
    };
    if result.is_err()
        && let Some(temp) = progress.temp.take()
    {
        let mut fs = sftp.fs();
        let _ = tokio::time::timeout(CLEANUP_GRACE, fs.remove_file(&temp)).await;
    }
    result
}

fn timed_out(path: &str, renaming: bool) -> DaemonError {
    let seed = messages::timed_out(path).to_string();
    DaemonError::RemoteFile(if renaming {
        format!("{seed} The new content may or may not be in place.")
    } else {
        format!("{seed} Nothing was written.")
    })
}

pub fn changed(path: &str) -> DaemonError {
    DaemonError::RemoteFile(format!(
        "Remote file changed on the host while it was being edited, so nothing was written: \
         {path}. View it again and redo the edit."
    ))
}

/// The file the edit is about: the path itself, or where its symlink leads.
async fn real_file(sftp: &Sftp, path: &str) -> Result<PathBuf, DaemonError> {
    let remote = remote_path::for_sftp(path);
    let mut fs = sftp.fs();
    let link = fs
        .symlink_metadata(&remote)
        .await
        .map_err(|e| remote_fs::file_error(path, &e))?;
    if !link.file_type().is_some_and(|t| t.is_symlink()) {
        return Ok(remote);
    }
    fs.canonicalize(&remote).await.map_err(|e| match e {
        // The client reads paths as UTF-8; another target ends its session.
        openssh_sftp_client::Error::BackgroundTaskFailure(_) => messages::failed(
            path,
            "it is a symlink to a path that is not valid UTF-8, which the SFTP client cannot read",
        ),
        e => remote_fs::file_error(path, &e),
    })
}

/// Size and mtime: what a change on the host moves (the bytes are compared as well).
fn stamp(m: &MetaData) -> (Option<u64>, Option<u32>) {
    (m.len(), m.modified().map(|t| t.into_raw()))
}

async fn steps(
    sftp: &Sftp,
    req: &EditRequest,
    between: impl Future<Output = ()>,
    progress: &mut Progress,
) -> Result<Edited, DaemonError> {
    let path = req.path.as_str();
    let target = real_file(sftp, path).await?;
    let mut fs = sftp.fs();
    let meta = fs
        .metadata(&target)
        .await
        .map_err(|e| remote_fs::file_error(path, &e))?;
    match meta.file_type() {
        Some(t) if t.is_dir() => return Err(messages::is_directory(path)),
        Some(t) if t.is_file() => {}
        _ => return Err(messages::not_regular(path)),
    }
    let (original, before) = read_with_stamp(sftp, &target, path, meta.len()).await?;
    if binary::looks_binary(&original) {
        return Err(DaemonError::RemoteFile(binary::refusal(path)));
    }
    let applied = replace::apply(&original, &req.edits)
        .map_err(|e| DaemonError::RemoteFile(e.to_string()))?;
    between.await;

    let temp = remote_path::temp_beside(&target, remote_path::nonce());
    let mut file = sftp
        .options()
        .write(true)
        .create_new(true)
        .open(&temp)
        .await
        .map_err(|e| {
            messages::failed(
                path,
                &format!(
                    "cannot create a temporary file beside it ({}); the file was not changed",
                    brief(&e)
                ),
            )
        })?;
    progress.temp = Some(temp.clone());
    if let (Some(uid), Some(gid)) = (meta.uid(), meta.gid()) {
        // Keeping the owner needs privileges we may lack; then the file becomes ours.
        let mut owner = MetaDataBuilder::new();
        owner.id((uid, gid));
        let _ = file.set_metadata(owner.create()).await;
    }
    if let Some(perm) = meta.permissions() {
        // After the chown, which clears set-id bits.
        file.set_permissions(Permissions::from_raw(perm.as_raw()))
            .await
            .map_err(|e| {
                messages::failed(path, &format!("cannot keep the mode ({})", brief(&e)))
            })?;
    }
    let written = async {
        let mut file = write::all(file, &applied.content).await?;
        if sftp.support_fsync() {
            file.sync_all().await?;
        }
        file.close().await
    }
    .await;
    written
        .map_err(|e| messages::failed(path, &format!("writing the new content: {}", brief(&e))))?;

    // Nothing may have touched the target since it was read.
    let now = fs
        .metadata(&target)
        .await
        .map_err(|e| match messages::is_missing(&e) {
            true => changed(path),
            false => remote_fs::file_error(path, &e),
        })?;
    if stamp(&now) != before {
        return Err(changed(path));
    }
    let (again, _) = read_with_stamp(sftp, &target, path, now.len()).await?;
    if again != original {
        return Err(changed(path));
    }

    progress.renaming = true;
    fs.rename(&temp, &target)
        .await
        .map_err(|e| messages::failed(path, &format!("replacing the file: {}", brief(&e))))?;
    progress.temp = None;
    Ok(Edited {
        edits_applied: applied.edits_applied,
        replacements: applied.replacements,
        bytes_written: applied.content.len() as u64,
    })
}

/// The file's bytes, and its size and mtime from the same handle once read.
async fn read_with_stamp(
    sftp: &Sftp,
    target: &Path,
    path: &str,
    size_hint: Option<u64>,
) -> Result<(Vec<u8>, (Option<u64>, Option<u32>)), DaemonError> {
    let mut file = sftp
        .options()
        .read(true)
        .open(target)
        .await
        .map_err(|e| remote_fs::file_error(path, &e))?;
    let content = read::all(&file, size_hint.unwrap_or(0), MAX_EDIT_BYTES, path).await?;
    let m = file
        .metadata()
        .await
        .map_err(|e| remote_fs::file_error(path, &e))?;
    Ok((content, stamp(&m)))
}

/// An SFTP failure in a few words.
fn brief(e: &openssh_sftp_client::Error) -> String {
    use openssh_sftp_client::error::SftpErrorKind;
    match e {
        openssh_sftp_client::Error::SftpError(SftpErrorKind::PermDenied, _) => {
            "permission denied".into()
        }
        openssh_sftp_client::Error::SftpError(kind, msg) => format!("{kind:?}: {msg}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::super::local_sftp::LocalSftp;
    use super::*;

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
        let e = edit(&s.sftp, &req("f", &[("old", "new")]), None)
            .await
            .unwrap();
        assert_eq!(s.read("f"), b"caf\xe9\r\nkey = new\r\n\xff end\r\n");
        assert_eq!(
            e,
            Edited {
                edits_applied: 1,
                replacements: 1,
                bytes_written: 24
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
        edit(&s.sftp, &req("~/link", &[("a", "z")]), None)
            .await
            .unwrap();
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
        let e = edit(&s.sftp, &req("link", &[("a", "b")]), None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("not valid UTF-8"), "{e}");
        assert_eq!(std::fs::read(&target).unwrap(), b"a");
    }

    #[tokio::test]
    async fn a_file_changed_between_read_and_write_is_left_alone() {
        let s = LocalSftp::start().await;
        s.write("f", b"one two\n");
        let target = s.at("f");
        // Same size, same second: only the bytes tell.
        let writer = async { std::fs::write(&target, b"ONE two\n").unwrap() };
        let e = edit_with(&s.sftp, &req("f", &[("two", "2")]), None, writer)
            .await
            .unwrap_err();
        assert!(matches!(e, DaemonError::RemoteFile(_)));
        assert!(
            e.to_string().starts_with("Remote file changed on the host"),
            "{e}"
        );
        assert!(e.to_string().contains("nothing was written"), "{e}");
        assert_eq!(s.read("f"), b"ONE two\n");
        assert_eq!(
            s.names(s.home.path()),
            ["f"],
            "the temporary file is removed"
        );
        // A change of size is caught as well.
        let writer = async { std::fs::write(&target, b"longer now\n").unwrap() };
        let e = edit_with(&s.sftp, &req("f", &[("two", "2")]), None, writer).await;
        assert!(e.unwrap_err().to_string().contains("changed on the host"));
        assert_eq!(s.read("f"), b"longer now\n");
    }

    #[tokio::test]
    async fn a_file_removed_before_the_write_is_not_recreated() {
        let s = LocalSftp::start().await;
        s.write("f", b"x\n");
        let target = s.at("f");
        let remover = async { std::fs::remove_file(&target).unwrap() };
        let e = edit_with(&s.sftp, &req("f", &[("x", "y")]), None, remover).await;
        assert!(e.unwrap_err().to_string().contains("changed on the host"));
        assert!(s.names(s.home.path()).is_empty());
    }

    #[tokio::test]
    async fn failing_edits_write_nothing() {
        let s = LocalSftp::start().await;
        s.write("f", b"x = 1\nx = 1\n");
        let e = edit(&s.sftp, &req("f", &[("x = 1", "x = 2")]), None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("matches 2 locations"), "{e}");
        let e = edit(&s.sftp, &req("f", &[("1\nx", "1\ny"), ("zzz", "")]), None)
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
        let e = edit(&s.sftp, &r, None).await.unwrap();
        assert_eq!((e.edits_applied, e.replacements), (1, 2));
        assert_eq!(s.read("f"), b"x = 2\nx = 2\n");
    }

    #[tokio::test]
    async fn binary_files_directories_and_missing_files_are_refused() {
        let s = LocalSftp::start().await;
        s.write("bin", b"ELF\x00\x01old");
        let e = edit(&s.sftp, &req("bin", &[("old", "new")]), None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("binary"), "{e}");
        assert_eq!(s.read("bin"), b"ELF\x00\x01old");
        std::fs::create_dir(s.at("d")).unwrap();
        let e = edit(&s.sftp, &req("d", &[("a", "b")]), None)
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "Remote path is a directory, not a file: d");
        let e = edit(&s.sftp, &req("gone", &[("a", "b")]), None)
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "Remote path does not exist: gone");
        let e = edit(&s.sftp, &req("/dev/null", &[("a", "b")]), None)
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Remote path exists but is not a regular file: /dev/null"
        );
        std::os::unix::fs::symlink("nowhere", s.at("dangling")).unwrap();
        let e = edit(&s.sftp, &req("dangling", &[("a", "b")]), None)
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "Remote path does not exist: dangling");
    }

    #[tokio::test]
    async fn an_expired_deadline_writes_nothing() {
        let s = LocalSftp::start().await;
        s.write("f", b"abc");
        let e = edit(
            &s.sftp,
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
            edit(&s.sftp, &req(name, &[("before", "after")]), None)
                .await
                .unwrap();
            assert_eq!(s.read(name), b"after");
        }
        assert_eq!(s.names(s.home.path()).len(), 4);
    }
}
