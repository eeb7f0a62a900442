//! A directory's view: the seed's listing, non-hidden entries to depth 2, sorted and bounded,
//! read over SFTP (a name that is not UTF-8 ends the SFTP session; the caller then lists with
//! `find` on the host).

use openssh_sftp_client::Sftp;
use tokio_stream::StreamExt;

use super::MAX_SCANNED;
use crate::error::DaemonError;
use crate::files::listing::{self, Entry, Kind, Listing};
use crate::files::{remote_path, sftp_errors};

pub(super) enum ListError {
    /// The session ended while reading names: one of them is not valid UTF-8.
    NotUtf8,
    Failed(DaemonError),
}

impl From<DaemonError> for ListError {
    fn from(e: DaemonError) -> Self {
        Self::Failed(e)
    }
}

/// The seed's directory listing: non-hidden entries to depth 2, sorted, bounded. Paths are shown
/// from the path as given.
pub(super) async fn list(sftp: &Sftp, path: &str) -> Result<Listing, ListError> {
    let mut entries = Vec::new();
    let mut more = false;
    let mut pending = vec![(path.to_owned(), remote_path::for_sftp(path), 1usize)];
    while let Some((shown, remote, depth)) = pending.pop() {
        let mut fs = sftp.fs();
        let handle = match fs.open_dir(&remote).await {
            Ok(h) => h,
            // The top must open; a subdirectory we may not read is listed but not entered.
            Err(e) if depth == 1 => return Err(sftp_errors::file_error(path, &e).into()),
            Err(_) => continue,
        };
        let stream = handle.read_dir();
        tokio::pin!(stream);
        while let Some(entry) = stream.next().await {
            let entry = entry.map_err(|e| match e {
                // The client reads names as UTF-8; another name fails its reader task.
                openssh_sftp_client::Error::BackgroundTaskFailure(_) => ListError::NotUtf8,
                e => ListError::Failed(sftp_errors::file_error(path, &e)),
            })?;
            let name = entry.filename().to_string_lossy().into_owned();
            if !listing::is_listed(&name) {
                continue;
            }
            if entries.len() >= MAX_SCANNED {
                more = true;
                break;
            }
            let child = listing::child_path(&shown, &name);
            let child_remote = remote.join(entry.filename());
            let is_link = entry.file_type().is_some_and(|t| t.is_symlink());
            let kind = match entry.file_type() {
                Some(t) if t.is_dir() => Kind::Directory,
                _ if is_link => symlink_kind(sftp, &child_remote).await,
                _ => Kind::File,
            };
            if kind == Kind::Directory && depth < listing::DEPTH && !is_link {
                pending.push((child.clone(), child_remote, depth + 1));
            }
            entries.push(Entry { path: child, kind });
        }
        if more {
            break;
        }
    }
    Ok(listing::finish(entries, listing::MAX_ENTRIES, more))
}

/// A symlink is shown as what it points to (like `[ -d ]`), but never entered (like `find`).
async fn symlink_kind(sftp: &Sftp, remote: &std::path::Path) -> Kind {
    match sftp.fs().metadata(remote).await {
        Ok(m) if m.file_type().is_some_and(|t| t.is_dir()) => Kind::Directory,
        _ => Kind::File,
    }
}
