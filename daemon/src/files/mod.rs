//! Remote files: searching them (grep through a POSIX sh script on the host, glob over an SFTP
//! directory walk).

pub mod glob_pattern;
pub mod grep_output;
pub mod grep_script;
pub mod grep_spec;
pub mod search_args;
