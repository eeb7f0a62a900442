//! Any text through the policy file parser (`ssh-mcp policy check`, the daemon's reload).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ssh_mcpd::trust::fuzzing::policy_file(data));
