//! The `ssh-mcp` package as a library: the MCP server ([`mcp`]), the link to the daemon and its
//! autospawn, the stdio transport and the commands for people. `main.rs` is the binary: its flags
//! and start-up. With the `fuzzing` feature, [`fuzzing`] is the fuzz targets' way into the tools'
//! argument decoding (see `fuzz/`).

#![deny(clippy::print_stdout, clippy::dbg_macro)]

pub mod audit_view;
pub mod autospawn;
pub mod cli;
pub mod daemon_link;
pub mod forward_list;
pub mod heap;
pub mod host_list;
pub mod job_list;
pub mod json_text;
pub mod mcp;
pub mod people;
pub mod policy_cli;
pub mod stdio;

#[cfg(feature = "fuzzing")]
pub use mcp::fuzzing;
