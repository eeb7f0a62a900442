//! ssh's own prompts through a session: a host that takes only a password shows ssh's prompt in
//! the session, the password written there logs in, `ssh_exec` to that host then works over the
//! session's connection, and the password is never in the transcript.

use std::time::Duration;

use ssh_mcp_core::pb::{self, sessions_client::SessionsClient};

use crate::support::accounts::{PASSWORD_USER, password_account};
use crate::support::daemon::{Daemon, run_request};
use crate::support::sshd::Sshd;

async fn read_until(d: &Daemon, id: &str, needle: &str) -> (String, pb::SessionSnapshot) {
    read_until_within(d, id, needle, Duration::from_secs(20)).await
}

async fn read_until_within(
    d: &Daemon,
    id: &str,
    needle: &str,
    limit: Duration,
) -> (String, pb::SessionSnapshot) {
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + limit;
    loop {
        let snap = SessionsClient::new(d.channel().await)
            .read(pb::ReadSessionRequest {
                session_id: id.into(),
                read: Some(pb::ReadOptions {
                    wait_seconds: Some(1.0),
                    reader_id: "t".into(),
                    ..Default::default()
                }),
            })
            .await
            .unwrap()
            .into_inner()
            .snapshot
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&snap.output));
        if seen.contains(needle) || std::time::Instant::now() > deadline || !snap.running {
            return (seen, snap);
        }
    }
}

async fn write(d: &Daemon, id: &str, input: &str) {
    SessionsClient::new(d.channel().await)
        .write(pb::WriteSessionRequest {
            session_id: id.into(),
            input: input.as_bytes().to_vec(),
            read: Some(pb::ReadOptions {
                wait_seconds: Some(0.0),
                reader_id: "w".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_host_is_reached_through_a_session_and_then_serves_exec() {
    let password = password_account();
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let target = format!("{PASSWORD_USER}@testhost");
    let exec_request = || {
        let mut req = run_request("echo exec-$((6*7))");
        req.connection.as_mut().unwrap().target = target.clone();
        req
    };
    // Without an answer, nothing gets in: ssh_exec runs ssh in batch mode.
    let refused = d.exec(exec_request()).await.unwrap_err();
    assert!(
        refused.message().contains("Permission denied"),
        "{}",
        refused.message()
    );

    let opened = SessionsClient::new(d.channel().await)
        .open(pb::OpenSessionRequest {
            connection: Some(pb::Connection {
                target: target.clone(),
                ..Default::default()
            }),
            observer_mode: Some("transcript".into()),
            ensure: true,
            read: Some(pb::ReadOptions {
                wait_seconds: Some(0.0),
                reader_id: "t".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let snap = opened.snapshot.unwrap();
    let id = snap.session_id.clone();
    let transcript = snap.observer.unwrap().transcript_path;
    let (prompt, psnap) = read_until(&d, &id, "password:").await;
    assert!(
        prompt.contains("password:"),
        "no password prompt: {prompt:?} {psnap:?}\n{}",
        d.log()
            .lines()
            .filter(|l| l.contains("ssh_mcpd"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    write(&d, &id, &format!("{password}\n")).await;
    // ssh restores the terminal with TCSAFLUSH once it has read the password, which drops
    // whatever was typed after it meanwhile: type the command again until the shell answers.
    let mut answered = None;
    for _ in 0..10 {
        write(&d, &id, "echo in-$((6*7))\n").await;
        let (shell, snap) = read_until_within(&d, &id, "in-42", Duration::from_secs(4)).await;
        if shell.contains("in-42") || !snap.running {
            answered = Some((shell, snap));
            break;
        }
    }
    let (shell, snap) = answered.expect("the shell never answered after the password");
    assert!(shell.contains("in-42"), "not logged in: {shell:?} {snap:?}");
    assert!(!shell.contains(&password), "the password was echoed");

    // The session's connection now serves ssh_exec to the same target.
    let f = d.exec(exec_request()).await.unwrap();
    assert_eq!(f.stdout, b"exec-42\n");
    assert!(f.reused_connection);

    let text = std::fs::read_to_string(&transcript).unwrap();
    assert!(text.contains("password:"), "{text:?}");
    assert!(
        !text.contains(&password),
        "the password is in the transcript"
    );

    // Ending the session takes its connection away from the pool again.
    let stopped = SessionsClient::new(d.channel().await)
        .stop(pb::StopSessionRequest {
            session_id: id,
            wait_seconds: Some(10.0),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!stopped.snapshot.unwrap().running);
    let again = d.exec(exec_request()).await.unwrap_err();
    assert!(
        again.message().contains("Permission denied"),
        "{}",
        again.message()
    );
}

/// The daemon runs ssh in batch mode itself: to a host whose config sets nothing and whose login
/// wants a password, `ssh_exec` fails at once with ssh's message and ssh never asks. The daemon's
/// environment makes ssh ask through an askpass program whenever it would prompt (which records
/// that it ran, then waits a minute), so a missing BatchMode shows as a marker and a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_to_a_password_host_without_batch_mode_in_its_config_fails_fast_without_asking() {
    use std::os::unix::fs::PermissionsExt;

    use crate::support::Scratch;
    use crate::support::daemon::DaemonOptions;
    use crate::support::sshd::PLAIN_HOST;

    // The account's password is not needed (and not reset here, which would race the test
    // above): the server wants one, which is all this is about.
    let sshd = Sshd::start();
    let scratch = Scratch::new("askpass");
    let asked = scratch.join("asked");
    let askpass = scratch.join("askpass.sh");
    std::fs::write(
        &askpass,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nsleep 60\n",
            asked.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o755)).unwrap();
    let d = Daemon::start_with(DaemonOptions {
        ssh_config: Some(sshd.ssh_config()),
        env: vec![
            ("SSH_ASKPASS".into(), askpass.display().to_string()),
            ("SSH_ASKPASS_REQUIRE".into(), "force".into()),
            ("DISPLAY".into(), ":0".into()),
        ],
        ..Default::default()
    })
    .unwrap();
    let mut req = run_request("echo never");
    req.connection.as_mut().unwrap().target = PLAIN_HOST.into();
    let started = std::time::Instant::now();
    let refused = tokio::time::timeout(Duration::from_secs(30), d.exec(req))
        .await
        .expect("ssh_exec waited for an answer nobody gives")
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        refused.message().contains("Permission denied"),
        "{}",
        refused.message()
    );
    assert!(
        !asked.exists(),
        "ssh asked for a password: {:?}",
        std::fs::read_to_string(&asked)
    );
    // Fast: one refused login, not a prompt's wait (3x margin over what it takes here).
    assert!(took < Duration::from_secs(10), "took {took:?}");
}
