//! `extra_ssh_args` (one per line) through the guard, and what it accepts through the argv builder.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ssh_mcp_core::fuzzing::ssh_args(data));
