//! The file tools' side of the daemon: remote files read and written over SFTP on the daemon's
//! own masters (`remote_fs`), with no remote shell and no quoting; searching them (ssh_grep runs
//! grep on the host through a POSIX sh script, ssh_glob walks the tree over SFTP).

pub mod glob;
pub mod glob_pattern;
pub mod glob_walk;
pub mod grep;
pub mod grep_output;
pub mod grep_script;
pub mod grep_spec;
pub mod remote_fs;
pub mod search_args;
