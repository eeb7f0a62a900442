//! The file tools' side of the daemon: remote files read and written over SFTP on the daemon's
//! own masters (`connection::sftp`), with no remote shell and no quoting; `sftp_errors` words SFTP
//! failures as the seed did.
//!
//! `ssh_view`, `ssh_create` and `ssh_edit` are flows on an open SFTP session ([`view`],
//! [`create`], [`edit`]); the byte logic they use is pure, each concept in its own file
//! ([`replace`] the edits, [`binary`], [`render`] what a view shows, [`listing`] directories).
//! An edit that cannot replace its file atomically without changing it ([`not_atomic`], from
//! what [`host_facts`] learns on the host) rewrites it [`in_place`]; edits of one file take
//! turns ([`path_locks`]).
//! Searching remote files (ssh_grep, ssh_glob) is `crate::search`.

pub mod binary;
pub mod call;
pub mod create;
pub mod edit;
pub mod host_facts;
pub mod in_place;
pub mod listing;
pub mod messages;
pub mod not_atomic;
pub mod path_locks;
pub mod read;
pub mod remote_path;
pub mod render;
pub mod replace;
pub mod sftp_errors;
pub mod shell_listing;
pub mod spec;
pub mod view;
pub mod write;

#[cfg(test)]
mod local_sftp;
