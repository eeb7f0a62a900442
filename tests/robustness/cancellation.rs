//! A cancellation storm: thirty concurrent calls on one connection, half of them dropped while
//! the others run. Every dropped call's remote processes end, the others finish with their own
//! output, and the daemon's count of running commands and busy channels returns to zero.
//!
//! Two thirds of the dropped calls go at a random moment in their first 1.5 s (before the request
//! is sent, while waiting for a channel or a master, while the session opens, before or after the
//! remote pid is known); the rest once their own remote command is seen running, so that the
//! remote kill is always exercised.

use std::time::Duration;

use ssh_mcp_core::pb::exec_client::ExecClient;
use ssh_mcp_core::pb::run_event::Event;

use super::{Rng, assert_daemon_healthy, wait_for_status};
use crate::support::daemon::{Daemon, run_request};
use crate::support::sshd::Sshd;
use crate::support::{pids_with_env_marker, unique_marker, wait_until_async};

/// When a call of the storm is dropped.
#[derive(Debug, Clone, Copy)]
enum DropAt {
    /// This long after the call is made, whatever it is doing then.
    AfterCall(Duration),
    /// This long after its own remote command is seen running on the host.
    AfterStart(Duration),
}

/// Runs 30 calls at once, drops those `plan` picks at the moments it picks, and checks what the
/// module doc promises. `plan(rng, n)` returns `None` for a call that must finish.
async fn storm(salt: u64, plan: impl Fn(&mut Rng, usize) -> Option<DropAt>) {
    let sshd = Sshd::start();
    let mut d = Daemon::start(&sshd.ssh_config());
    let pid = d.status().await.pid;
    let mut rng = Rng::for_test(salt);
    let seed = rng.seed();
    let marker = unique_marker("storm");
    let marker_value = marker.split_once('=').map_or("", |(_, v)| v).to_owned();
    let channel = d.channel().await;

    let mut dropped = Vec::new();
    let mut kept = Vec::new();
    for i in 0..30 {
        let mut client = ExecClient::new(channel.clone());
        let Some(at) = plan(&mut rng, i) else {
            kept.push(tokio::spawn(async move {
                let mut stream = client
                    .run(run_request(&format!("sleep 1; echo kept-{i}")))
                    .await?
                    .into_inner();
                while let Some(ev) = stream.message().await? {
                    if let Some(Event::Finished(f)) = ev.event {
                        return Ok::<_, tonic::Status>((i, f));
                    }
                }
                Err(tonic::Status::internal("no result"))
            }));
            continue;
        };
        // Long, and for a third of them deaf to SIGTERM with a child left behind: only a group
        // kill ends those.
        let own = format!("SSHMCP_STORM_CALL={marker_value}_{i}");
        let command = if i % 3 == 0 {
            format!("export {marker} {own}; trap '' TERM; sleep 300 & sleep 300")
        } else {
            format!("export {marker} {own}; sleep 300")
        };
        dropped.push(tokio::spawn(async move {
            match at {
                DropAt::AfterCall(after) => {
                    let call = async {
                        let mut stream = client.run(run_request(&command)).await?.into_inner();
                        stream.message().await
                    };
                    // Dropping the call at this moment is the cancellation under test.
                    match tokio::time::timeout(after, call).await {
                        Err(_) => Ok(()),
                        Ok(r) => Err(format!("call {i} ended before it was dropped: {r:?}")),
                    }
                }
                DropAt::AfterStart(after) => {
                    let stream = client.run(run_request(&command)).await;
                    let seen = wait_until_async(Duration::from_secs(20), || {
                        !pids_with_env_marker(&own).is_empty()
                    })
                    .await;
                    tokio::time::sleep(after).await;
                    drop(stream);
                    if seen {
                        Ok(())
                    } else {
                        Err(format!("call {i} never started its remote command"))
                    }
                }
            }
        }));
    }
    assert!(
        dropped.len() >= 10 && kept.len() >= 10,
        "seed {seed}: plan too lopsided"
    );
    for call in dropped {
        if let Err(e) = call.await.unwrap() {
            panic!("seed {seed}: {e}");
        }
    }
    for call in kept {
        let (i, f) = call
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("seed {seed}: a kept call failed: {e}"));
        assert_eq!(
            f.stdout,
            format!("kept-{i}\n").as_bytes(),
            "seed {seed}: {}",
            String::from_utf8_lossy(&f.stderr)
        );
        assert_eq!(f.exit_code, Some(0));
    }
    let (status, idle) = wait_for_status(&d, Duration::from_secs(20), |s| {
        s.running_commands == 0 && s.connections_busy == 0
    })
    .await;
    let left = pids_with_env_marker(&marker);
    let gone = left.is_empty()
        || wait_until_async(Duration::from_secs(10), || {
            pids_with_env_marker(&marker).is_empty()
        })
        .await;
    let left = pids_with_env_marker(&marker);
    // A failure must not leave 300 s sleepers behind on the host.
    for p in &left {
        unsafe { libc::kill(*p as i32, libc::SIGKILL) };
    }
    assert!(
        gone,
        "seed {seed}: remote processes of dropped calls were still running: {left:?}"
    );
    assert!(
        idle,
        "seed {seed}: calls still running or channels still leased: {status:?}"
    );
    assert_daemon_healthy(&mut d, pid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_storm_ends_every_dropped_command_and_spares_the_rest() {
    storm(0x5EED_0008, |rng, i| match i % 6 {
        0 | 2 => Some(DropAt::AfterCall(Duration::from_millis(
            rng.below(1500) as u64
        ))),
        4 => Some(DropAt::AfterStart(Duration::from_millis(
            rng.below(400) as u64
        ))),
        _ => None,
    })
    .await;
}
