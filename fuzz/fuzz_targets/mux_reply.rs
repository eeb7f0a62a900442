//! Bytes from a ControlMaster, framed and decoded as the daemon reads its control socket.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ssh_mcp_core::fuzzing::mux_reply(data));
