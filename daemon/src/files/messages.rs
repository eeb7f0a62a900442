//! The answers of the remote file tools when a path is not what the call needs, in the seed's
//! words (its `RemoteFileError` table), as [`DaemonError::RemoteFile`]. SFTP failures are
//! translated by `sftp_errors::file_error`.

use openssh_sftp_client::Error as SftpError;
use openssh_sftp_client::error::SftpErrorKind;

use crate::error::DaemonError;

fn remote(message: String) -> DaemonError {
    DaemonError::RemoteFile(message)
}

pub fn does_not_exist(path: &str) -> DaemonError {
    remote(format!("Remote path does not exist: {path}"))
}

pub fn not_regular(path: &str) -> DaemonError {
    remote(format!(
        "Remote path exists but is not a regular file: {path}"
    ))
}

pub fn is_directory(path: &str) -> DaemonError {
    remote(format!("Remote path is a directory, not a file: {path}"))
}

pub fn already_exists(path: &str) -> DaemonError {
    remote(format!("Remote path already exists: {path}"))
}

pub fn no_parent(path: &str) -> DaemonError {
    remote(format!(
        "Parent directory does not exist remotely for: {path}"
    ))
}

pub fn timed_out(path: &str) -> DaemonError {
    remote(format!("Remote operation on '{path}' timed out."))
}

pub fn failed(path: &str, detail: &str) -> DaemonError {
    remote(format!("Remote operation on '{path}' failed: {detail}"))
}

/// True when the server said the path does not exist.
pub fn is_missing(e: &SftpError) -> bool {
    matches!(e, SftpError::SftpError(SftpErrorKind::NoSuchFile, _))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_the_seeds() {
        let cases = [
            (does_not_exist("/x"), "Remote path does not exist: /x"),
            (
                not_regular("/dev/null"),
                "Remote path exists but is not a regular file: /dev/null",
            ),
            (
                is_directory("/tmp"),
                "Remote path is a directory, not a file: /tmp",
            ),
            (already_exists("a b"), "Remote path already exists: a b"),
            (
                no_parent("/nope/x"),
                "Parent directory does not exist remotely for: /nope/x",
            ),
            (timed_out("/x"), "Remote operation on '/x' timed out."),
        ];
        for (e, text) in cases {
            assert!(matches!(e, DaemonError::RemoteFile(_)));
            assert_eq!(e.to_string(), text);
        }
    }
}
