//! Remote files: searching them (grep through a POSIX sh script on the host, glob over an SFTP
//! directory walk).

pub mod glob_pattern;
