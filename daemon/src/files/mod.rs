//! Remote files over SFTP on the daemon's own masters: `ssh_view`, `ssh_create`, `ssh_edit`.
//! The byte logic (edits, binary detection, rendering, listings) is pure and lives in its own
//! files; the flows that talk SFTP use it.

pub mod binary;
pub mod create;
pub mod edit;
pub mod listing;
pub mod messages;
pub mod read;
pub mod remote_path;
pub mod render;
pub mod replace;
pub mod view;

#[cfg(test)]
mod local_sftp;
