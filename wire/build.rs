//! Compiles proto/sshmcp/v1 with protox (pure Rust, no system protoc) into tonic + prost code.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/sshmcp/v1/control.proto",
        "proto/sshmcp/v1/exec.proto",
        "proto/sshmcp/v1/files.proto",
        "proto/sshmcp/v1/sessions.proto",
        "proto/sshmcp/v1/transfers.proto",
        "proto/sshmcp/v1/forwards.proto",
        "proto/sshmcp/v1/search.proto",
        "proto/sshmcp/v1/outputs.proto",
        "proto/sshmcp/v1/hosts.proto",
    ];
    let descriptors = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
