//! One file per tool family, each an `impl SshMcp` block with its own `#[tool_router]`.
//! `connection.rs` holds the connection parameters every remote tool shares.

mod connection;
mod exec;
mod files;
mod forwards;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod search;
mod session_result;
mod session_run;
mod sessions;
mod transfers;

pub use sessions::new_reader_id;
