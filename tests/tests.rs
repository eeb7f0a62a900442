//! The one integration test binary. Every test runs real processes: a throwaway OpenSSH server on
//! loopback, the real `ssh-mcpd` (and, for some, the real `ssh-mcp`), real `ssh`. Nothing is mocked.
//! MCP-level end-to-end tests live in tests/mcp/ (Python `mcp` SDK).

#![allow(clippy::disallowed_methods, reason = "tests start real processes")]

mod support;

mod argument_guard;
mod attach;
mod audit;
mod daemon_lifecycle;
mod disk_full;
mod exec;
mod files_edit;
mod files_edit_keeps;
mod files_search;
mod forwards;
mod login_shells;
mod orphans;
mod pool;
mod robustness;
mod session_prompts;
mod sessions;
mod sessions_run;
mod shim;
mod tidy;
mod tools_list;
mod transfers;
