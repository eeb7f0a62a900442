//! The daemon's half of the `tool_args` fuzz target (see `crate::fuzzing` and `fuzz/`): a tool's
//! request as it arrives on the wire, converted and validated as the services here do, for the
//! tools where that is a pure function (ssh_exec, ssh_grep, ssh_glob). What is accepted goes on
//! to what the daemon builds from it: the remote command, the grep script.

#![allow(clippy::expect_used)]

use std::time::Instant;

use prost::Message;
use ssh_mcp_core::pb;

use crate::door::{Common, RawCommon};
use crate::exec::ExecSpec;
use crate::search::glob::GlobSpec;
use crate::search::grep_script;
use crate::search::grep_spec::GrepSpec;

/// Validates the protobuf `request` of `tool` (the shim's own encoding, so it decodes).
pub fn tool_request(tool: &str, request: &[u8]) {
    let home = Some(std::path::Path::new("/home/fuzz"));
    let common = |raw: &RawCommon| Common::parse(raw, home, Instant::now()).ok();
    match tool {
        "ssh_exec" => {
            let req = pb::RunRequest::decode(request).expect("the shim's own encoding");
            let (raw_common, raw) = super::exec::raw_exec(req);
            if let Some(spec) = common(&raw_common).and_then(|c| ExecSpec::parse(c, raw).ok()) {
                let _ = spec.remote_command.with_pid_report("0123456789abcdef");
            }
        }
        "ssh_grep" => {
            let req = pb::GrepRequest::decode(request).expect("the shim's own encoding");
            let (raw_common, raw) = super::search::raw_grep(req);
            if let Some(spec) = common(&raw_common).and_then(|c| GrepSpec::parse(c, raw).ok()) {
                let _ = grep_script::record_limit(&spec);
                let _ = grep_script::script(&spec, 1 << 20);
            }
        }
        "ssh_glob" => {
            let req = pb::GlobRequest::decode(request).expect("the shim's own encoding");
            let (raw_common, raw) = super::search::raw_glob(req);
            if let Some(c) = common(&raw_common) {
                let _ = GlobSpec::parse(c, raw);
            }
        }
        _ => {}
    }
}
