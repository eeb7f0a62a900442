//! What runs on the host: the command strings and scripts ssh-mcp sends ([`scripts`] for exec,
//! sessions and stops; [`jobs`] for background jobs; [`orphans`] for what a crashed daemon left running), the POSIX quoting of
//! every piece of agent input in them ([`quote`]), and the wrapping that makes a script read the
//! same under any login shell ([`login_shell`]).

pub mod jobs;
pub mod login_shell;
pub mod orphans;
pub mod quote;
pub mod scripts;
