//! What the grep script sends back, read as its stdout and as its stderr.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ssh_mcpd::search::fuzzing::grep_output(data));
