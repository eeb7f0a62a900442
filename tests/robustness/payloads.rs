//! Exec/Run payloads that are not RunRequests at all: invalid UTF-8, wrong wire types, lengths
//! past the end, runaway varints and group nesting, random bytes. Each is refused without
//! running anything, and the daemon keeps serving.

use std::time::Duration;

use prost::Message;
use prost::bytes::{Buf, BufMut};
use ssh_mcp_core::pb;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use super::{Rng, assert_daemon_healthy};
use crate::support::daemon::{Daemon, run_request};
use crate::support::sshd::Sshd;

/// Sends raw bytes as the RunRequest message, and reads replies as raw bytes.
#[derive(Debug, Clone, Default)]
struct RawCodec;

#[derive(Debug)]
struct RawEncoder;

#[derive(Debug)]
struct RawDecoder;

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

/// Calls Exec/Run with `payload` as the request message; returns the decoded events or the error.
async fn run_raw(d: &Daemon, payload: Vec<u8>) -> Result<Vec<pb::RunEvent>, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(d.channel().await);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unknown(e.to_string()))?;
    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/sshmcp.v1.Exec/Run");
    let mut stream = grpc
        .server_streaming(tonic::Request::new(payload), path, RawCodec)
        .await?
        .into_inner();
    let mut events = Vec::new();
    while let Some(bytes) = stream.message().await? {
        events.push(
            pb::RunEvent::decode(bytes.as_slice())
                .map_err(|e| tonic::Status::data_loss(e.to_string()))?,
        );
    }
    Ok(events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_refuses_run_payloads_that_are_not_valid_protobuf() {
    let sshd = Sshd::start();
    let mut d = Daemon::start(&sshd.ssh_config());
    let pid = d.status().await.pid;

    // A control: a well-formed request with an unknown field still runs, so this path works.
    let mut good = run_request("echo raw-ok").encode_to_vec();
    good.extend_from_slice(&[0xf8, 0x06, 0x01]); // field 111, varint 1
    let events = run_raw(&d, good).await.expect("a valid payload runs");
    let finished = events.iter().find_map(|e| match &e.event {
        Some(pb::run_event::Event::Finished(f)) => Some(f.clone()),
        _ => None,
    });
    assert_eq!(finished.expect("a result").stdout, b"raw-ok\n");

    let mut payloads: Vec<(&str, Vec<u8>)> = vec![
        ("command that is not UTF-8", vec![0x12, 0x02, 0xff, 0xfe]),
        (
            "target that is not UTF-8",
            vec![0x0a, 0x04, 0x0a, 0x02, 0xc3, 0x28],
        ),
        ("timeout with the wrong wire type", vec![0x30, 0x05]),
        ("length beyond the end", vec![0x12, 0x7f, b'a']),
        (
            "length of 4 GiB",
            vec![0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, b'a'],
        ),
        (
            "overlong varint",
            vec![
                0x40, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
        ),
        ("wire type 7", vec![0x0f]),
        ("field number 0", vec![0x02, 0x01, b'x']),
        ("end group without start", vec![0x7c]),
        ("groups nested 10,000 deep", [0x7b].repeat(10_000)),
        (
            "connection that is not a message",
            vec![0x0a, 0x03, 0xff, 0xff, 0xff],
        ),
        ("empty message", Vec::new()),
    ];
    let mut rng = Rng::for_test(0x5EED_0001);
    for _ in 0..40 {
        let len = 1 + rng.below(300);
        let mut p: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        // Wire type 7 does not exist, so the first key makes every one of these undecodable.
        p[0] |= 0x07;
        payloads.push(("random bytes", p));
    }
    for (name, payload) in payloads {
        let result = tokio::time::timeout(Duration::from_secs(10), run_raw(&d, payload.clone()))
            .await
            .unwrap_or_else(|_| panic!("'{name}' got no answer within 10 s"));
        match result {
            Err(s) => assert!(
                matches!(
                    s.code(),
                    tonic::Code::Internal | tonic::Code::InvalidArgument
                ),
                "'{name}' {payload:02x?}: {:?} {}",
                s.code(),
                s.message()
            ),
            Ok(events) => panic!("'{name}' {payload:02x?} was run: {events:?}"),
        }
    }
    assert_daemon_healthy(&mut d, pid).await;
}
