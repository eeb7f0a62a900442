//! `ssh_create` over SFTP: a new file with exactly the given bytes. The open is exclusive
//! (O_CREAT|O_EXCL), so an existing path, a symlink included (even a dangling one), is refused by
//! the server itself: no window between a check and the write, and no write through a link.
//! The mode comes from the remote umask, as with the seed's `cat >`. With `make_parents`, missing
//! parent directories are made first (like `mkdir -p`, modes from the umask too).
//!
//! A deadline can pass while the exclusive open is in flight: the server may have made the file
//! without the client knowing yet. The open is kept outside the deadline and awaited briefly,
//! so a file it made is removed, and only a file the server refused to make counts as nothing
//! written. (Removing by name without that answer could remove another program's file.)

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use openssh_sftp_client::Sftp;
use openssh_sftp_client::file::File;
use tokio::time::Instant;

use super::write::{self, Opening};
use super::{messages, remote_path, sftp_errors};
use crate::error::DaemonError;

#[derive(Debug, PartialEq, Eq)]
pub struct Created {
    pub bytes_written: u64,
    /// Parent directories made on the way (`make_parents`).
    pub directories_created: u32,
}

/// How long removing a half-written file after a timeout may take.
const CLEANUP_GRACE: Duration = Duration::from_secs(2);

/// Where a create stands, kept outside the deadline.
#[derive(Default)]
struct Progress<'a> {
    /// The exclusive open, sent and not yet answered.
    opening: Option<Opening<'a>>,
    /// The file exists and is ours (this call made it), until it is complete.
    created: bool,
}

/// Creates `path` with `content`; by `deadline` or not at all (a file cut short is removed).
pub async fn create(
    sftp: &Sftp,
    path: &str,
    content: &[u8],
    make_parents: bool,
    deadline: Option<Instant>,
) -> Result<Created, DaemonError> {
    let mut progress = Progress::default();
    let work = write_new(sftp, path, content, make_parents, &mut progress);
    let Some(at) = deadline else {
        return work.await;
    };
    match tokio::time::timeout_at(at, work).await {
        Ok(r) => r,
        Err(_) => {
            let mut message = messages::timed_out(path).to_string();
            if let Some(opening) = progress.opening.take()
                && let Ok(Ok(file)) = tokio::time::timeout(CLEANUP_GRACE, opening).await
            {
                progress.created = true;
                let _ = tokio::time::timeout(CLEANUP_GRACE, file.close()).await;
            }
            if progress.created {
                let mut fs = sftp.fs();
                let removed = tokio::time::timeout(
                    CLEANUP_GRACE,
                    fs.remove_file(remote_path::for_sftp(path)),
                )
                .await;
                if matches!(removed, Ok(Ok(()))) {
                    message.push_str(" The file it had begun was removed; nothing was written.");
                } else {
                    message.push_str(" A partly written file may be left.");
                }
            } else {
                message.push_str(" Nothing was written.");
            }
            Err(DaemonError::RemoteFile(message))
        }
    }
}

/// Opens a new file: fails when anything is at `remote`, a dangling symlink included. The open
/// waits in `progress` while in flight.
async fn open_new<'a>(
    sftp: &'a Sftp,
    remote: &Path,
    progress: &mut Progress<'a>,
) -> Result<File, openssh_sftp_client::Error> {
    let opening = progress
        .opening
        .insert(write::create_new(sftp, remote.to_path_buf()));
    let opened = opening.await;
    progress.opening = None;
    opened
}

/// Makes the missing directories of `dir`, outermost first; returns how many.
async fn make_dirs(sftp: &Sftp, dir: &Path, path: &str) -> Result<u32, DaemonError> {
    let mut fs = sftp.fs();
    let mut made = 0;
    let mut prefix = PathBuf::new();
    for part in dir.components() {
        prefix.push(part);
        if matches!(
            part,
            Component::RootDir | Component::CurDir | Component::Prefix(_)
        ) {
            continue;
        }
        match fs.create_dir(&prefix).await {
            Ok(()) => made += 1,
            // Already there (as a directory), or in the way.
            Err(e) => match fs.metadata(&prefix).await {
                Ok(m) if m.file_type().is_some_and(|t| t.is_dir()) => {}
                Ok(_) => return Err(messages::no_parent(path)),
                Err(_) => return Err(sftp_errors::file_error(path, &e)),
            },
        }
    }
    Ok(made)
}

async fn write_new<'a>(
    sftp: &'a Sftp,
    path: &str,
    content: &[u8],
    make_parents: bool,
    progress: &mut Progress<'a>,
) -> Result<Created, DaemonError> {
    let remote = remote_path::for_sftp(path);
    let mut opened = open_new(sftp, &remote, progress).await;
    let mut directories_created = 0;
    if make_parents
        && matches!(&opened, Err(e) if messages::is_missing(e))
        && let Some(parent) = remote.parent()
    {
        directories_created = make_dirs(sftp, parent, path).await?;
        opened = open_new(sftp, &remote, progress).await;
    }
    let file = match opened {
        Ok(f) => f,
        Err(e) => {
            // The server says only "Failure" for EEXIST: look at what is there to say why.
            let mut fs = sftp.fs();
            return Err(match fs.symlink_metadata(&remote).await {
                Ok(_) => messages::already_exists(path),
                Err(_) if messages::is_missing(&e) => messages::no_parent(path),
                Err(_) => match remote.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => {
                        match fs.metadata(parent).await {
                            Ok(m) if m.file_type().is_some_and(|t| t.is_dir()) => {
                                sftp_errors::file_error(path, &e)
                            }
                            _ => messages::no_parent(path),
                        }
                    }
                    _ => sftp_errors::file_error(path, &e),
                },
            });
        }
    };
    progress.created = true;
    let written = async { write::all(file, content).await?.close().await }.await;
    if let Err(e) = written {
        // The file is ours (we created it): leave no half-written file behind.
        let _ = sftp.fs().remove_file(&remote).await;
        progress.created = false;
        return Err(sftp_errors::file_error(path, &e));
    }
    progress.created = false;
    Ok(Created {
        bytes_written: content.len() as u64,
        directories_created,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::super::local_sftp::LocalSftp;
    use super::*;

    #[tokio::test]
    async fn content_is_written_exactly() {
        let s = LocalSftp::start().await;
        let c = create(&s.sftp, "crlf.txt", b"a\r\nb\r\n\xe9", false, None)
            .await
            .unwrap();
        assert_eq!(c.bytes_written, 7);
        assert_eq!(s.read("crlf.txt"), b"a\r\nb\r\n\xe9");
        let c = create(&s.sftp, "~/empty", b"", false, None).await.unwrap();
        assert_eq!(c.bytes_written, 0);
        assert_eq!(s.read("empty"), b"");
        let big = vec![b'x'; 700_000];
        create(&s.sftp, "big", &big, false, None).await.unwrap();
        assert_eq!(s.read("big"), big);
    }

    #[tokio::test]
    async fn an_existing_path_is_refused_and_kept() {
        let s = LocalSftp::start().await;
        s.write("there", b"old");
        let e = create(&s.sftp, "there", b"new", false, None)
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "Remote path already exists: there");
        assert_eq!(s.read("there"), b"old");
        std::fs::create_dir(s.at("dir")).unwrap();
        let e = create(&s.sftp, "dir", b"new", false, None)
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "Remote path already exists: dir");
    }

    #[tokio::test]
    async fn a_dangling_symlink_is_not_written_through() {
        let s = LocalSftp::start().await;
        std::os::unix::fs::symlink(s.at("victim"), s.at("link")).unwrap();
        let e = create(&s.sftp, "link", b"x", false, None)
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "Remote path already exists: link");
        assert!(!s.at("victim").exists());
    }

    #[tokio::test]
    async fn a_missing_parent_is_refused() {
        let s = LocalSftp::start().await;
        let e = create(&s.sftp, "no/such/x", b"x", false, None)
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Parent directory does not exist remotely for: no/such/x"
        );
        s.write("file", b"");
        let e = create(&s.sftp, "file/x", b"x", false, None)
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Parent directory does not exist remotely for: file/x"
        );
    }

    #[tokio::test]
    async fn make_parents_makes_the_missing_directories() {
        let s = LocalSftp::start().await;
        std::fs::create_dir(s.at("a")).unwrap();
        let c = create(&s.sftp, "~/a/b/c d/f", b"x", true, None)
            .await
            .unwrap();
        assert_eq!((c.bytes_written, c.directories_created), (1, 2));
        assert_eq!(s.read("a/b/c d/f"), b"x");
        let abs = s.at("p/q/f").to_string_lossy().into_owned();
        let c = create(&s.sftp, &abs, b"", true, None).await.unwrap();
        assert_eq!(c.directories_created, 2);
        let c = create(&s.sftp, "a/g", b"", true, None).await.unwrap();
        assert_eq!(c.directories_created, 0);
        // A file in the way is a missing parent; an existing target is still refused.
        s.write("file", b"");
        let e = create(&s.sftp, "file/sub/f", b"x", true, None)
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Parent directory does not exist remotely for: file/sub/f"
        );
        let e = create(&s.sftp, "a/g", b"x", true, None).await.unwrap_err();
        assert_eq!(e.to_string(), "Remote path already exists: a/g");
    }

    #[tokio::test]
    async fn the_mode_follows_the_umask() {
        let s = LocalSftp::start().await;
        create(&s.sftp, "m", b"x", false, None).await.unwrap();
        let mode = std::fs::metadata(s.at("m")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o111, 0, "not executable: {mode:o}");
        assert_ne!(
            mode & 0o600,
            0,
            "readable and writable by the owner: {mode:o}"
        );
    }

    #[tokio::test]
    async fn an_expired_deadline_leaves_no_file() {
        let s = LocalSftp::start().await;
        let e = create(
            &s.sftp,
            "late",
            b"x",
            false,
            Some(Instant::now() - Duration::from_secs(1)),
        )
        .await
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("Remote operation on 'late' timed out."),
            "{e}"
        );
        assert!(!s.at("late").exists());
    }

    #[tokio::test]
    async fn odd_names_are_created_where_asked() {
        let s = LocalSftp::start().await;
        for name in ["-dash", "sp ace", "qu'ote\"", "new\nline"] {
            create(&s.sftp, name, name.as_bytes(), false, None)
                .await
                .unwrap();
            assert_eq!(s.read(name), name.as_bytes());
        }
        assert_eq!(
            s.names(s.home.path()),
            ["-dash", "new\nline", "qu'ote\"", "sp ace"]
        );
    }

    #[tokio::test]
    async fn a_deadline_during_the_open_leaves_no_file() {
        let (s, held) = LocalSftp::holding_creates().await;
        let deadline = Instant::now() + Duration::from_secs(2);
        let call = create(&s.sftp, "slow", b"content", false, Some(deadline));
        // The server has made the file; its answer comes only after the deadline.
        let server_late = async {
            held.create_sent().await;
            tokio::time::sleep_until(deadline + Duration::from_millis(50)).await;
            held.release();
        };
        let (e, ()) = tokio::join!(call, server_late);
        assert_eq!(held.creates(), 1);
        assert!(
            s.names(s.home.path()).is_empty(),
            "left behind: {:?}",
            s.names(s.home.path())
        );
        let e = e.unwrap_err().to_string();
        assert!(
            e.starts_with("Remote operation on 'slow' timed out."),
            "{e}"
        );
        assert!(e.ends_with("nothing was written."), "{e}");
    }
}
