//! The socket itself under abuse: bytes that are not HTTP/2, clients that connect and never
//! speak, hundreds of connections at once, hand-made HTTP/2 that lies about lengths, a header
//! block that never ends, and streams reset as fast as they are opened. Through all of it the
//! daemon keeps answering others, and after it the same process still serves.

use std::time::Duration;

use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::{Rng, assert_daemon_healthy, wait_for_status};
use crate::support::daemon::{Daemon, run_request};
use crate::support::sshd::Sshd;
use crate::support::{pids_with_env_marker, unique_marker, wait_until_async};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn hpack_literal(out: &mut Vec<u8>, name: &str, value: &str) {
    // Literal header field without indexing, new name, no Huffman coding (RFC 7541 §6.2.2).
    out.push(0x00);
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    out.push(value.len() as u8);
    out.extend_from_slice(value.as_bytes());
}

/// The header block of a gRPC call to Exec/Run.
fn run_headers() -> Vec<u8> {
    let path = "/sshmcp.v1.Exec/Run";
    // :method POST and :scheme http from the static table; :path and :authority with indexed names.
    let mut h = vec![0x83, 0x86, 0x04, path.len() as u8];
    h.extend_from_slice(path.as_bytes());
    h.extend_from_slice(&[0x01, 0x01, b'x']);
    hpack_literal(&mut h, "content-type", "application/grpc");
    hpack_literal(&mut h, "te", "trailers");
    h
}

/// A gRPC length-prefixed message, with the prefix given explicitly so that it can lie.
fn grpc_message(compressed: bool, declared_len: u32, payload: &[u8]) -> Vec<u8> {
    let mut m = vec![u8::from(compressed)];
    m.extend_from_slice(&declared_len.to_be_bytes());
    m.extend_from_slice(payload);
    m
}

/// The start of a connection: the preface and our (empty) SETTINGS.
fn opening() -> Vec<u8> {
    let mut b = PREFACE.to_vec();
    b.extend(frame(SETTINGS, 0, 0, &[]));
    b
}

/// Writes `bytes` (a write error means the daemon already hung up, which is fine) and reads
/// frames for up to `wait`; returns whether a HEADERS or RST_STREAM frame came back on `stream`.
async fn send_and_watch(d: &Daemon, bytes: &[u8], stream: u32, wait: Duration) -> bool {
    let mut s = UnixStream::connect(&d.socket).await.expect("connect");
    let _ = s.write_all(bytes).await;
    let mut buf = Vec::new();
    let answered = tokio::time::timeout(wait, async {
        let mut chunk = [0u8; 4096];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            let mut at = 0;
            while buf.len() >= at + 9 {
                let len = (usize::from(buf[at]) << 16)
                    | (usize::from(buf[at + 1]) << 8)
                    | usize::from(buf[at + 2]);
                let kind = buf[at + 3];
                let id = u32::from_be_bytes([buf[at + 5], buf[at + 6], buf[at + 7], buf[at + 8]])
                    & 0x7fff_ffff;
                if id == stream && (kind == HEADERS || kind == RST_STREAM) {
                    return true;
                }
                at += 9 + len;
            }
        }
    })
    .await;
    answered.unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_survives_bytes_that_are_not_http2_and_lying_http2_frames() {
    let sshd = Sshd::start();
    let mut d = Daemon::start(&sshd.ssh_config());
    let pid = d.status().await.pid;
    let mut rng = Rng::for_test(0x5EED_0002);

    let garbage: Vec<u8> = (0..64 * 1024).map(|_| rng.next_u64() as u8).collect();
    let mut preface_then_garbage = PREFACE.to_vec();
    preface_then_garbage.extend_from_slice(&garbage[..4096]);
    let mut huge_frame = opening();
    huge_frame.extend_from_slice(&[0xff, 0xff, 0xff, DATA, 0, 0, 0, 0, 1]);
    huge_frame.extend_from_slice(&garbage[..1024]);
    for (name, bytes) in [
        ("random bytes", garbage.clone()),
        (
            "an HTTP/1.1 request",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        (
            "a JSON-RPC line",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}\n".to_vec(),
        ),
        ("the preface, then garbage", preface_then_garbage),
        ("a frame that claims 16 MiB", huge_frame),
        ("half a preface", PREFACE[..10].to_vec()),
    ] {
        let _ = send_and_watch(&d, &bytes, 1, Duration::from_millis(300)).await;
        let status = tokio::time::timeout(Duration::from_secs(5), d.status())
            .await
            .unwrap_or_else(|_| panic!("no Status answer after {name}"));
        assert_eq!(status.pid, pid, "after {name}");
    }

    // Well-formed HTTP/2 carrying gRPC messages that lie. Each call must get an answer (a
    // response or a reset), not silence.
    let request = run_request("echo must-not-run").encode_to_vec();
    let lies: [(&str, Vec<u8>); 4] = [
        (
            "a 4 GiB length prefix, then end of stream",
            grpc_message(false, u32::MAX, b"abc"),
        ),
        (
            "a compressed flag without an encoding",
            grpc_message(true, request.len() as u32, &request),
        ),
        (
            "a length prefix longer than the data",
            grpc_message(false, request.len() as u32 + 100, &request),
        ),
        ("half a length prefix", vec![0, 0, 1]),
    ];
    for (name, body) in lies {
        let mut bytes = opening();
        bytes.extend(frame(HEADERS, END_HEADERS, 1, &run_headers()));
        bytes.extend(frame(DATA, END_STREAM, 1, &body));
        assert!(
            send_and_watch(&d, &bytes, 1, Duration::from_secs(5)).await,
            "no answer to {name}"
        );
    }

    // A header block that never ends (the CONTINUATION flood).
    let mut flood = opening();
    let mut block = run_headers();
    block.truncate(block.len() - 2);
    flood.extend(frame(HEADERS, 0, 1, &block));
    let mut junk = Vec::new();
    for i in 0..64 {
        hpack_literal(&mut junk, &format!("x-junk-{i:02}"), "0123456789");
    }
    for _ in 0..2000 {
        flood.extend(frame(CONTINUATION, 0, 1, &junk));
    }
    let _ = send_and_watch(&d, &flood, 1, Duration::from_millis(500)).await;

    // A message that is announced and never finished, from a client that then goes away.
    let mut stalled = opening();
    stalled.extend(frame(HEADERS, END_HEADERS, 1, &run_headers()));
    stalled.extend(frame(
        DATA,
        0,
        1,
        &grpc_message(false, 1 << 20, b"\x0a\x0a"),
    ));
    let mut s = UnixStream::connect(&d.socket).await.unwrap();
    s.write_all(&stalled).await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(5), d.status())
        .await
        .expect("Status while a request body is stalled");
    assert_eq!(status.pid, pid);
    drop(s);

    let (status, idle) =
        wait_for_status(&d, Duration::from_secs(10), |s| s.running_commands == 0).await;
    assert!(idle, "{status:?}");
    assert_daemon_healthy(&mut d, pid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_flooding_clients_do_not_stop_the_daemon_serving_others() {
    let sshd = Sshd::start();
    let mut d = Daemon::start(&sshd.ssh_config());
    let pid = d.status().await.pid;

    // One client connects and never speaks; another stops in the middle of a frame header.
    let silent = UnixStream::connect(&d.socket).await.unwrap();
    let mut stalled = UnixStream::connect(&d.socket).await.unwrap();
    let mut partial = opening();
    partial.extend_from_slice(&[0x00, 0x00, 0x10, HEADERS]);
    stalled.write_all(&partial).await.unwrap();
    let f = tokio::time::timeout(
        Duration::from_secs(20),
        d.exec(run_request("echo beside-silence")),
    )
    .await
    .expect("a command runs while silent clients hold connections")
    .unwrap();
    assert_eq!(f.stdout, b"beside-silence\n");

    // 200 connections at once: half of them open HTTP/2 and then say nothing more.
    let mut opening_calls = Vec::new();
    for i in 0..200 {
        let socket = d.socket.clone();
        opening_calls.push(tokio::spawn(async move {
            let mut s = UnixStream::connect(&socket).await?;
            if i % 2 == 0 {
                s.write_all(&opening()).await?;
            }
            Ok::<_, std::io::Error>(s)
        }));
    }
    let mut crowd = Vec::new();
    for call in opening_calls {
        crowd.push(
            call.await
                .unwrap()
                .expect("the daemon accepts 200 connections"),
        );
    }
    let status = tokio::time::timeout(Duration::from_secs(5), d.status())
        .await
        .expect("Status while 200 idle connections are open");
    assert_eq!(status.pid, pid);
    drop(crowd);
    drop(silent);
    drop(stalled);
    assert_daemon_healthy(&mut d, pid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_reset_as_soon_as_they_open_leave_no_remote_command() {
    let sshd = Sshd::start();
    let mut d = Daemon::start(&sshd.ssh_config());
    let pid = d.status().await.pid;
    // Warm the master so that reset calls reach ssh quickly.
    d.exec(run_request("true")).await.unwrap();
    let marker = unique_marker("reset");
    let request = run_request(&format!("export {marker}; sleep 300")).encode_to_vec();
    let open_stream = |id: u32| {
        let mut b = frame(HEADERS, END_HEADERS, id, &run_headers());
        b.extend(frame(
            DATA,
            END_STREAM,
            id,
            &grpc_message(false, request.len() as u32, &request),
        ));
        b
    };
    let reset = |id: u32| frame(RST_STREAM, 0, id, &8u32.to_be_bytes());
    // 100 streams reset in the same write that opens them (h2 may answer the rapid resets by
    // closing the connection, which cancels them all the same).
    let mut bytes = opening();
    for n in 0..100u32 {
        let id = 2 * n + 1;
        bytes.extend(open_stream(id));
        bytes.extend(reset(id));
    }
    let mut flood = UnixStream::connect(&d.socket).await.unwrap();
    let _ = flood.write_all(&bytes).await;
    // Whatever the daemon started for those streams, it must end; Status stays responsive.
    let status = tokio::time::timeout(Duration::from_secs(5), d.status())
        .await
        .expect("Status during a reset flood");
    assert_eq!(status.pid, pid);
    drop(flood);
    // On another connection, 20 streams reset once their commands run on the host.
    let late_ids: Vec<u32> = (0..20u32).map(|n| 2 * n + 1).collect();
    let mut bytes = opening();
    for id in &late_ids {
        bytes.extend(open_stream(*id));
    }
    let mut s = UnixStream::connect(&d.socket).await.unwrap();
    s.write_all(&bytes).await.unwrap();
    // First, that these commands did start, so that "nothing is left" below is about commands
    // that ran.
    let started = wait_until_async(Duration::from_secs(30), || {
        !pids_with_env_marker(&marker).is_empty()
    })
    .await;
    assert!(started, "no command of the streams started on the host");
    let mut resets = Vec::new();
    for id in &late_ids {
        resets.extend(reset(*id));
    }
    let _ = s.write_all(&resets).await;
    drop(s);
    let gone = wait_until_async(Duration::from_secs(30), || {
        pids_with_env_marker(&marker).is_empty()
    })
    .await;
    assert!(
        gone,
        "remote commands of reset streams are still running: {:?}",
        pids_with_env_marker(&marker)
    );
    let (status, idle) =
        wait_for_status(&d, Duration::from_secs(20), |s| s.running_commands == 0).await;
    assert!(idle, "{status:?}");
    assert_daemon_healthy(&mut d, pid).await;
}
