//! The daemon's half of the `tool_args` fuzz target (see `fuzz/`): a tool's
//! request as it arrives on the wire, converted and validated as the services here do, for the
//! tools where that is a pure function (ssh_exec, ssh_grep, ssh_glob). What is accepted goes on
//! to what the daemon builds from it: the remote command, the grep script. The unit test below
//! replays the target's committed corpus (`fuzz/corpus/tool_args/`) on stable Rust.

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
        "ssh_read_output" => {
            let req = pb::ReadOutputRequest::decode(request).expect("the shim's own encoding");
            let _ = super::outputs::page_request(req);
        }
        "ssh_stop_job" => {
            let req = pb::StopJobRequest::decode(request).expect("the shim's own encoding");
            let _ = ssh_mcp_core::ssh::remote::jobs::JobId::parse(&req.job_id);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use ssh_mcp_core::fuzzing::replay_corpus;

    use super::*;

    #[test]
    fn the_tool_args_corpus_replays_and_calls_every_tool() {
        let mut called = std::collections::BTreeSet::new();
        let files = replay_corpus("tool_args", |json| {
            if let Some(call) = ssh_mcp::fuzzing::tool_call(json) {
                if let Some(request) = &call.request {
                    tool_request(&call.tool, request);
                }
                called.insert(call.tool);
            }
        });
        assert!(files > 0);
        for tool in ssh_mcp::fuzzing::TOOLS {
            assert!(
                called.contains(*tool),
                "no file of fuzz/corpus/tool_args makes a valid call of {tool}"
            );
        }
    }
}
