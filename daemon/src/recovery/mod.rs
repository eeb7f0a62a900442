//! What lets a daemon that starts after a crash end what the crashed one left running: the
//! [`journal`] of remote commands and session shells running now, kept on disk, and [`orphans`],
//! which ends at start-up those the last daemon never saw end.
//!
//! A folder of its own, above `exec` and `connection`: the journal records what exec and sessions
//! start, and orphans ends what it finds through the exec path like any helper script.

pub mod journal;
pub mod orphans;
