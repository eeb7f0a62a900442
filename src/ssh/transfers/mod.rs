//! What a transfer (`ssh_scp`, `ssh_sync`) may carry, validated: its local and remote
//! [`paths`], and the agent's `extra_rsync_args` ([`extra_rsync_args`]) read with rsync's popt
//! against the tables of [`rsync_allowlist`]. The scp and rsync command lines themselves are built
//! by the argv builder (`super::argv`), like every other.

pub mod extra_rsync_args;
pub mod paths;
pub mod rsync_allowlist;
