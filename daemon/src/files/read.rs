//! Reading an open remote file: a bounded prefix, or every chunk in order. SFTP reads return at
//! most the server's read length (256 KiB less a little for OpenSSH), so both loop; a whole
//! file is read with several requests in flight.

use openssh_sftp_client::file::File;

use std::ops::ControlFlow;

use tokio::io::AsyncSeek;

use super::{messages, sftp_errors};
use crate::error::DaemonError;

/// Up to `limit` bytes from the start of the file (fewer at its end): one request at a time
/// for a few, several in flight for more than one request's worth.
pub async fn prefix(
    file: &mut File,
    limit: usize,
    size_hint: u64,
    path: &str,
) -> Result<Vec<u8>, DaemonError> {
    let mut out = Vec::with_capacity(limit.min(1 << 20));
    if limit > FIRST_CHUNK as usize {
        chunks(file, size_hint, u64::MAX, path, |c| {
            let room = limit - out.len();
            out.extend_from_slice(&c[..c.len().min(room)]);
            Ok(if out.len() >= limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        })
        .await?;
        return Ok(out);
    }
    while out.len() < limit {
        let want = u32::try_from(limit - out.len()).unwrap_or(u32::MAX);
        match file.read(want, Default::default()).await {
            Ok(Some(chunk)) => out.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => return Err(sftp_errors::file_error(path, &e)),
        }
    }
    Ok(out)
}

/// Reads `len` bytes at `offset` through its own copy of the handle.
async fn read_at(
    file: &File,
    offset: u64,
    len: u32,
) -> Result<Option<Vec<u8>>, openssh_sftp_client::Error> {
    let mut f = file.clone();
    std::pin::Pin::new(&mut f).start_seek(std::io::SeekFrom::Start(offset))?;
    Ok(f.read(len, Default::default()).await?.map(|b| b.to_vec()))
}

/// The first guess at the server's read length: OpenSSH's (256 KiB less 1 KiB). A server that
/// answers with less sets the length for the rest of the file.
const FIRST_CHUNK: u32 = 261_120;

/// Every chunk from the start to the end of the file, handed to `each` in order (which may end
/// the read early with `Break`, or with an error); fails when more than `max_total` bytes come. Four requests are in
/// flight at once. A read that comes back short exactly at `size_hint` (the size from stat) ends the
/// file without asking again; otherwise the end is where the server says so. Returns the bytes
/// read.
pub async fn chunks(
    file: &File,
    size_hint: u64,
    max_total: u64,
    path: &str,
    mut each: impl FnMut(&[u8]) -> Result<ControlFlow<()>, DaemonError>,
) -> Result<u64, DaemonError> {
    let mut chunk = FIRST_CHUNK;
    let mut offset = 0u64;
    loop {
        let step = u64::from(chunk);
        let (a, b, c, d) = tokio::join!(
            read_at(file, offset, chunk),
            read_at(file, offset + step, chunk),
            read_at(file, offset + 2 * step, chunk),
            read_at(file, offset + 3 * step, chunk),
        );
        for got in [a, b, c, d] {
            match got.map_err(|e| sftp_errors::file_error(path, &e))? {
                Some(bytes) if !bytes.is_empty() => {
                    offset += bytes.len() as u64;
                    if offset > max_total {
                        return Err(too_large(path, max_total));
                    }
                    if each(&bytes)?.is_break() {
                        return Ok(offset);
                    }
                    if bytes.len() < chunk as usize {
                        if size_hint > 0 && offset == size_hint {
                            return Ok(offset);
                        }
                        // The server's read length, or a short read: what follows is asked
                        // for again from here, in pieces of this size.
                        chunk = u32::try_from(bytes.len()).unwrap_or(chunk).max(4096);
                        break;
                    }
                }
                _ => return Ok(offset),
            }
        }
    }
}

/// The whole file, up to `max_total` bytes.
pub async fn all(
    file: &File,
    size_hint: u64,
    max_total: u64,
    path: &str,
) -> Result<Vec<u8>, DaemonError> {
    let mut out = Vec::with_capacity(size_hint.min(max_total) as usize);
    chunks(file, size_hint, max_total, path, |c| {
        out.extend_from_slice(c);
        Ok(ControlFlow::Continue(()))
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

#[cfg(test)]
mod tests {
    use super::super::local_sftp::LocalSftp;
    use super::*;

    fn bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[tokio::test]
    async fn whole_files_arrive_in_order_whatever_their_size_or_hint() {
        let s = LocalSftp::start().await;
        let sizes = [0, 1, 4095, 261_120, 261_121, 4 * 261_120, 2_000_003];
        for size in sizes {
            let content = bytes(size);
            s.write("f", &content);
            let file = s.sftp.options().read(true).open("f").await.unwrap();
            // The right hint, none, one too small (a file that grew) and one too large.
            for hint in [size as u64, 0, size as u64 / 2, size as u64 + 10] {
                let got = all(&file, hint, u64::MAX, "f").await.unwrap();
                assert!(
                    got == content,
                    "size {size}, hint {hint}: {} bytes",
                    got.len()
                );
            }
        }
    }

    #[tokio::test]
    async fn a_prefix_stops_at_the_limit_or_the_end() {
        let s = LocalSftp::start().await;
        s.write("f", &bytes(300_000));
        let mut file = s.sftp.options().read(true).open("f").await.unwrap();
        assert_eq!(
            prefix(&mut file, 20_483, 300_000, "f").await.unwrap(),
            bytes(20_483)
        );
        let mut file = s.sftp.options().read(true).open("f").await.unwrap();
        assert_eq!(
            prefix(&mut file, 280_003, 300_000, "f").await.unwrap(),
            bytes(280_003)
        );
        let mut file = s.sftp.options().read(true).open("f").await.unwrap();
        assert_eq!(
            prefix(&mut file, 400_000, 300_000, "f").await.unwrap(),
            bytes(300_000)
        );
    }

    #[tokio::test]
    async fn too_much_is_refused() {
        let s = LocalSftp::start().await;
        s.write("f", &bytes(5000));
        let file = s.sftp.options().read(true).open("f").await.unwrap();
        let e = all(&file, 5000, 4999, "f").await.unwrap_err();
        assert!(e.to_string().contains("larger than"), "{e}");
    }
}
