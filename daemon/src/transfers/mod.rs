//! Transfers (`ssh_scp`, `ssh_sync`): scp and rsync between this machine and a host, over the
//! daemon's own ControlMaster for that host (no new handshake).
//!
//! - `spec.rs`: the request, validated with the seed's rules and messages.
//! - `run/`: lease, process group, progress, stop, and what moved, in named phases.
//! - `proc_io.rs`: progress from the kernel's per-process I/O counters.
//! - `rsync_stats.rs`: files and bytes from rsync's `--stats`.
//! - `local_tree.rs`: files and bytes under local paths.
//! - `followed_links.rs`: the links inside an upload's trees that the copy would follow, for the
//!   door's `[local]` check.
//! - `checksum.rs`: sha256 on both ends, paired by scp's naming rules or by rsync's own
//!   listing of what it selected (`rsync_listing.rs`).
//! - `stage.rs`: scp writes beside the destination and its copy is put in place when complete
//!   (`stage_remote.rs` on the host for uploads, `stage_local.rs` here for downloads).

pub mod checksum;
pub mod followed_links;
pub mod local_tree;
pub mod proc_io;
pub mod rsync_listing;
pub mod rsync_stats;
pub mod run;
pub mod spec;
pub mod stage;
pub mod stage_local;
pub mod stage_remote;
