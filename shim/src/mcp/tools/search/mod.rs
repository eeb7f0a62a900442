//! `ssh_grep` and `ssh_glob`: drop-in for the seed's tools (parameters, defaults, result shape),
//! plus what the seed lacks: grep keeps its matches when some files are unreadable (`errors`),
//! says which regex flavour it used, takes path globs, and stops on the host at `head_limit`;
//! glob walks the tree over SFTP (no remote shell). Arguments become `Search` requests. One tool
//! per file.

pub(super) mod glob;
pub(super) mod grep;
