//! Writing a whole buffer to an open remote file with the writes pipelined: up to 640 KiB in
//! flight (the client's default) instead of one round trip per 256 KiB request.

use openssh_sftp_client::Error as SftpError;
use openssh_sftp_client::file::{File, TokioCompatFile};
use tokio::io::AsyncWriteExt;

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
