//! The one translation of SFTP failures into the seed's messages ([`file_error`]), and
//! [`brief`], the same in a few words for a longer sentence. The SFTP session itself is
//! `connection::sftp::RemoteFs`.

use openssh_sftp_client::Error as SftpError;
use openssh_sftp_client::error::SftpErrorKind;

use crate::error::DaemonError;

/// The seed's wording for a failed operation on `path`, from an SFTP failure.
pub fn file_error(path: &str, e: &SftpError) -> DaemonError {
    DaemonError::RemoteFile(match e {
        SftpError::SftpError(SftpErrorKind::NoSuchFile, _) => {
            format!("Remote path does not exist: {path}")
        }
        SftpError::SftpError(SftpErrorKind::PermDenied, _) => {
            format!("Remote operation on '{path}' failed: permission denied.")
        }
        SftpError::SftpError(_, msg) => {
            format!("Remote operation on '{path}' failed: {msg}.")
        }
        other => format!("Remote operation on '{path}' failed: {other}"),
    })
}

/// An SFTP failure in a few words, for a sentence that says what was being done.
pub fn brief(e: &SftpError) -> String {
    match e {
        SftpError::SftpError(SftpErrorKind::PermDenied, _) => "permission denied".into(),
        SftpError::SftpError(kind, msg) => format!("{kind:?}: {msg}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_names_the_path() {
        let e = SftpError::IOError(std::io::Error::other("broken pipe"));
        let text = file_error("a b", &e).to_string();
        assert!(
            text.starts_with("Remote operation on 'a b' failed: "),
            "{text}"
        );
        assert!(text.contains("broken pipe"), "{text}");
    }
}
