//! Writing a whole buffer to an open remote file with the writes pipelined: up to 640 KiB in
//! flight (the client's default) instead of one round trip per 256 KiB request; and the
//! exclusive open of a new file as a value ([`Opening`]) that can outlive a deadline.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use openssh_sftp_client::Error as SftpError;
use openssh_sftp_client::Sftp;
use openssh_sftp_client::file::{File, TokioCompatFile};
use tokio::io::AsyncWriteExt;

/// An exclusive open (O_CREAT|O_EXCL) in flight. Its owner keeps it outside the call's
/// deadline: when the deadline passes first, the server may still have made the file, and
/// only the open's answer says whether the file there is ours to remove.
pub type Opening<'a> = Pin<Box<dyn Future<Output = Result<File, SftpError>> + Send + 'a>>;

/// The exclusive open of `path` for writing (and reading, which the client needs for fstat),
/// not yet sent.
pub fn create_new(sftp: &Sftp, path: PathBuf) -> Opening<'_> {
    Box::pin(async move {
        sftp.options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .await
    })
}

/// Writes `content` from the file's offset and waits until the server has taken all of it.
/// Returns the file (its offset not moved) for fsync and close.
pub async fn all(file: File, content: &[u8]) -> Result<File, SftpError> {
    // The handle stays open while a copy of the File holds it.
    let handle = file.clone();
    let mut pipelined = Box::pin(TokioCompatFile::new(file));
    pipelined.write_all(content).await?;
    pipelined.flush().await?;
    drop(pipelined);
    Ok(handle)
}
