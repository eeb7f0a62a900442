//! Servers that accept TCP and then say nothing (or say only their banner): a call's timeout
//! and ssh's ConnectTimeout both bound it, and the daemon serves normally afterwards.

use std::time::{Duration, Instant};

use ssh_mcp_core::pb::{self, RunRequest};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use super::assert_daemon_healthy;
use crate::support::daemon::{Daemon, run_request};
use crate::support::sshd::Sshd;

/// A TCP server on loopback that accepts every connection, writes `greeting`, then holds the
/// connection open and silent until the task is aborted.
async fn mute_server(greeting: &'static [u8]) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s.write_all(greeting).await;
            held.push(s);
        }
    });
    (port, task)
}

fn request_to(port: u16, extra: &[&str], timeout: Option<f64>) -> RunRequest {
    let mut req = run_request("echo must-not-run");
    req.connection = Some(pb::Connection {
        target: "127.0.0.1".into(),
        port: Some(u32::from(port)),
        strict_host_key_checking: Some("no".into()),
        extra_ssh_args: extra.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    });
    req.timeout_seconds = timeout;
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_ends_within_the_timeout_and_the_daemon_stays_healthy() {
    let sshd = Sshd::start();
    let mut d = Daemon::start(&sshd.ssh_config());
    let pid = d.status().await.pid;
    let (silent, silent_task) = mute_server(b"").await;
    let (banner, banner_task) = mute_server(b"SSH-2.0-OpenSSH_9.9 mute\r\n").await;

    let started = Instant::now();
    let (a, b, c) = tokio::join!(
        // The call's timeout and ssh's ConnectTimeout race; either way it ends quickly.
        d.exec(request_to(silent, &["-o", "ConnectTimeout=1"], Some(2.0))),
        // A banner, then silence: ConnectTimeout no longer applies, only the call's timeout.
        d.exec(request_to(banner, &[], Some(2.0))),
        // No call timeout: ssh's ConnectTimeout alone must end it, as a connection error.
        d.exec(request_to(silent, &["-o", "ConnectTimeout=1", "-C"], None)),
    );
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    for (name, r) in [("silent, timeout 2", &a), ("banner only, timeout 2", &b)] {
        match r {
            Ok(f) => assert!(f.timed_out && f.exit_code.is_none(), "{name}: {f:?}"),
            Err(s) => assert_eq!(
                s.code(),
                tonic::Code::Unavailable,
                "{name}: {}",
                s.message()
            ),
        }
    }
    let err = c.expect_err("a silent server cannot run a command");
    assert_eq!(err.code(), tonic::Code::Unavailable, "{}", err.message());
    assert!(
        err.message().contains("127.0.0.1") && err.message().contains("timed out"),
        "the error should name the host and say it timed out: {}",
        err.message()
    );

    assert_daemon_healthy(&mut d, pid).await;
    // Asking again fails again, just as quickly: nothing is stuck on the mute host.
    let again = Instant::now();
    let r = d
        .exec(request_to(silent, &["-o", "ConnectTimeout=1"], Some(2.0)))
        .await;
    assert!(
        again.elapsed() < Duration::from_secs(6),
        "took {:?}: {r:?}",
        again.elapsed()
    );
    assert!(r.is_err() || r.as_ref().is_ok_and(|f| f.timed_out), "{r:?}");
    silent_task.abort();
    banner_task.abort();
}
