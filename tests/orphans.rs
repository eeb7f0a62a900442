//! What a crashed daemon leaves running on its hosts is ended by the next daemon: a command of
//! `ssh_exec` (a bare `sleep`, which bash runs in place of itself, so its command line carries
//! nothing of ours) and a job a session's shell started with `nohup` (which outlives the hangup
//! of its terminal). The test sshd runs on this machine, so "still running on the host" is read
//! from /proc here.

use std::time::{Duration, Instant};

use ssh_mcp_core::pb::{self, sessions_client::SessionsClient};

use crate::support::daemon::{Daemon, DaemonOptions, run_request};
use crate::support::sshd::Sshd;
use crate::support::{Scratch, pids_with_cmdline, wait_until, wait_until_async};

/// A `sleep` no other process runs: its argument is unique to this test run.
fn unique_sleep() -> String {
    let mut bytes = [0u8; 4];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").unwrap(),
        &mut bytes,
    )
    .unwrap();
    format!("1000.{:08}", u32::from_le_bytes(bytes) % 100_000_000)
}

fn start(sshd: &Sshd, state: &Scratch) -> Daemon {
    Daemon::start_with(DaemonOptions {
        ssh_config: Some(sshd.ssh_config()),
        state_dir: Some(state.join("state")),
        ..Default::default()
    })
    .unwrap()
}

/// Whether the journal shows a reported process group for a running entry.
fn journal_has_pid(state: &Scratch) -> bool {
    std::fs::read_to_string(state.join("state/running.journal"))
        .is_ok_and(|t| t.contains("\"event\":\"pid\""))
}

fn kill_daemon(d: &mut Daemon) {
    let mut child = d.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Waits for the processes running `needle` to go; returns how long that took.
fn time_until_gone(needle: &str, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    wait_until(limit, || pids_with_cmdline(needle).is_empty()).then(|| started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_left_by_a_killed_daemon_is_ended_by_the_next_one() {
    let sshd = Sshd::start();
    let state = Scratch::new("orphan-exec");
    let mut first = start(&sshd, &state);
    let sleep = unique_sleep();
    let command = format!("sleep {sleep}");
    let socket = first.socket.clone();
    let call = tokio::spawn(async move {
        let channel = crate::support::daemon::connect(&socket).await.unwrap();
        let mut stream = pb::exec_client::ExecClient::new(channel)
            .run(run_request(&command))
            .await?
            .into_inner();
        while stream.message().await?.is_some() {}
        Ok::<(), tonic::Status>(())
    });
    assert!(
        wait_until_async(Duration::from_secs(20), || !pids_with_cmdline(&sleep)
            .is_empty()
            && journal_has_pid(&state))
        .await,
        "the command did not start ({:?}), or its process group was not journalled: {:?}",
        pids_with_cmdline(&sleep),
        std::fs::read_to_string(state.join("state/running.journal"))
    );

    kill_daemon(&mut first);
    let status = call.await.unwrap();
    assert!(status.is_err(), "the call outlived its daemon: {status:?}");
    // Without the journal the command would run on: nothing else on the host ends it.
    assert!(
        !pids_with_cmdline(&sleep).is_empty(),
        "the command ended with the daemon; this test proves nothing"
    );

    let second = start(&sshd, &state);
    let took = time_until_gone(&sleep, Duration::from_secs(30));
    let log = second.log();
    assert!(
        took.is_some(),
        "the command of the killed daemon still runs 30 s after the next one started; log:\n{log}"
    );
    println!(
        "orphan_exec_end_ms={}",
        took.unwrap_or_default().as_millis()
    );
    assert!(
        wait_until(Duration::from_secs(10), || second.log().contains(
            "ended a remote process group left running by the previous daemon"
        )),
        "the new daemon did not log what it ended; log:\n{}",
        second.log()
    );
    // The journal no longer lists it: a third start has nothing to do.
    drop(second);
    let third = start(&sshd, &state);
    let status = third.status().await;
    assert!(status.pid > 0);
    assert!(
        !third
            .log()
            .contains("the previous daemon ended without stopping"),
        "{}",
        third.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_job_left_by_a_killed_daemon_is_ended_by_the_next_one() {
    let sshd = Sshd::start();
    let state = Scratch::new("orphan-session");
    let mut first = start(&sshd, &state);
    // A non-root account with bash as its login shell and OpenSSH's defaults.
    let (user, _) = crate::support::accounts::login_shell_account("bash");
    let mut sessions = SessionsClient::new(first.channel().await);
    let opened = sessions
        .open(pb::OpenSessionRequest {
            connection: Some(pb::Connection {
                target: format!("{user}@testhost"),
                ..Default::default()
            }),
            observer_mode: Some("transcript".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let id = opened.snapshot.unwrap().session_id;
    let sleep = unique_sleep();
    sessions
        .write(pb::WriteSessionRequest {
            session_id: id,
            input: format!("nohup sleep {sleep} >/dev/null 2>&1 &\n").into_bytes(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        wait_until_async(Duration::from_secs(20), || !pids_with_cmdline(&sleep)
            .is_empty()
            && journal_has_pid(&state))
        .await,
        "the job did not start, or the shell's process group was not journalled"
    );

    kill_daemon(&mut first);
    // The shell goes with its terminal, the nohup job stays.
    assert!(
        !pids_with_cmdline(&sleep).is_empty(),
        "the job ended with the daemon; this test proves nothing"
    );
    let second = start(&sshd, &state);
    let took = time_until_gone(&sleep, Duration::from_secs(30));
    assert!(
        took.is_some(),
        "the session's job still runs 30 s after the next daemon started; log:\n{}",
        second.log()
    );
    println!(
        "orphan_session_end_ms={}",
        took.unwrap_or_default().as_millis()
    );
}
