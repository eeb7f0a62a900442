//! The remote file tools (drop-in for the seed's ssh_view, ssh_create and ssh_edit, plus
//! `line_numbers` for views and `replace_all` for edits): arguments become `Files` requests; the
//! daemon does the work over SFTP. Content crosses gRPC as bytes; a view returns it as text,
//! plus `content_base64` when the bytes are not valid UTF-8. One tool per file.

pub(super) mod create;
pub(super) mod edit;
pub(super) mod view;

/// Wording the file tools share (as `connection::doc` does for the connection parameters).
pub(super) mod fdoc {
    pub const PATH: &str = "Remote path; relative and ~/ are from home.";
    pub const TIMEOUT: &str = "Seconds; default none.";
}
