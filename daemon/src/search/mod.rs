//! The search tools' side of the daemon. `ssh_grep` runs grep on the host through a POSIX sh
//! script on the exec path ([`grep`]: [`grep_spec`] validates, [`grep_script`] writes the script,
//! [`grep_output`] reads what comes back); `ssh_glob` walks the tree over SFTP ([`glob`], with
//! [`glob_walk`] deciding what to list and keep, and [`glob_find`] listing with `find` when SFTP
//! cannot), matching paths with [`glob_pattern`], the seed's glob dialect; the matching runs on
//! the blocking pool, bounded and under the call's deadline ([`offload`]). [`search_args`] holds
//! the validation both share.

pub mod glob;
pub mod glob_find;
pub mod glob_pattern;
pub mod glob_walk;
pub mod grep;
pub mod grep_output;
pub mod grep_script;
pub mod grep_spec;
pub mod offload;
pub mod search_args;

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
