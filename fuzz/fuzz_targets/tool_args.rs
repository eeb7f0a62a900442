//! A `tools/call` params object: decoded by the shim as rmcp decodes it into the tool's
//! arguments, turned into the daemon request, and validated by the daemon where that is a pure
//! function.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(call) = ssh_mcp::fuzzing::tool_call(data)
        && let Some(request) = &call.request
    {
        ssh_mcpd::grpc::fuzzing::tool_request(&call.tool, request);
    }
});
