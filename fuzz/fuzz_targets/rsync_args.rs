//! `extra_rsync_args` (one per line) through the guard, and what it accepts spelled for rsync.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ssh_mcp_core::fuzzing::rsync_args(data));
