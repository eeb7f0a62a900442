//! A glob and a path (one per line) through the glob compiler's public compile and match API.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ssh_mcpd::search::fuzzing::glob_pattern(data));
