//! Reading an open remote file: a bounded prefix, or every chunk in order. SFTP reads return at
//! most the server's read length (256 KiB less a little for OpenSSH), so both loop.

use openssh_sftp_client::file::File;

use super::{messages, remote_fs};
use crate::error::DaemonError;

/// Up to `limit` bytes from the current offset (fewer at the end of the file).
pub async fn prefix(file: &mut File, limit: usize, path: &str) -> Result<Vec<u8>, DaemonError> {
    let mut out = Vec::with_capacity(limit.min(1 << 20));
    while out.len() < limit {
        let want = u32::try_from(limit - out.len()).unwrap_or(u32::MAX);
        match file.read(want, Default::default()).await {
            Ok(Some(chunk)) => out.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => return Err(remote_fs::file_error(path, &e)),
        }
    }
    Ok(out)
}

/// Every chunk to the end of the file, handed to `each` in order (which may stop the read with
/// an error); fails when more than `max_total` bytes come. Returns the bytes read.
pub async fn chunks(
    file: &mut File,
    max_total: u64,
    path: &str,
    mut each: impl FnMut(&[u8]) -> Result<(), DaemonError>,
) -> Result<u64, DaemonError> {
    let mut total = 0u64;
    loop {
        match file.read(u32::MAX, Default::default()).await {
            Ok(Some(chunk)) => {
                total += chunk.len() as u64;
                if total > max_total {
                    return Err(too_large(path, max_total));
                }
                each(&chunk)?;
            }
            Ok(None) => return Ok(total),
            Err(e) => return Err(remote_fs::file_error(path, &e)),
        }
    }
}

/// The whole file, up to `max_total` bytes.
pub async fn all(
    file: &mut File,
    size_hint: u64,
    max_total: u64,
    path: &str,
) -> Result<Vec<u8>, DaemonError> {
    let mut out = Vec::with_capacity(size_hint.min(max_total) as usize);
    chunks(file, max_total, path, |c| {
        out.extend_from_slice(c);
        Ok(())
    })
    .await?;
    Ok(out)
}

pub fn too_large(path: &str, max: u64) -> DaemonError {
    messages::failed(
        path,
        &format!(
            "the file is larger than {} MiB, more than one call can carry",
            max >> 20
        ),
    )
}
