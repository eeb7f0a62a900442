//! The generated protobuf and gRPC types of `proto/sshmcp/v1`. Only the daemon's `grpc/` layer and
//! the shim touch these; everything else works on domain types.

#![allow(clippy::all, missing_docs)]

tonic::include_proto!("sshmcp.v1");
