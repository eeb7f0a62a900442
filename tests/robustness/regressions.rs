//! Regression tests for bugs this campaign found: a stalled link holding calls past their
//! timeout, and output lost when the exit report overtook the last bytes.

use std::time::Duration;

use ssh_mcp_core::pb::exec_client::ExecClient;

use crate::robustness::{assert_daemon_healthy, wait_for_status};
use crate::support::daemon::{Daemon, run_request};
use crate::support::sshd::Sshd;
use crate::support::{
    children_of, pids_with_cmdline, pids_with_env_marker, unique_marker, wait_until_async,
};

/// Stops the sshd process that serves the daemon's (one) master, as a link that stops
/// delivering would; resumes it on drop, or after `limit` at the latest.
struct StalledServer {
    pid: i32,
    watchdog: tokio::task::JoinHandle<()>,
}

impl StalledServer {
    fn stall(sshd: &Sshd, limit: Duration) -> Self {
        let listener = pids_with_cmdline(&sshd.dir.join("sshd_config").display().to_string());
        let sessions: Vec<u32> = listener.iter().flat_map(|l| children_of(*l)).collect();
        assert_eq!(
            sessions.len(),
            1,
            "sshd {listener:?}, sessions {sessions:?}"
        );
        let pid = sessions[0] as i32;
        unsafe { libc::kill(pid, libc::SIGSTOP) };
        let watchdog = tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            unsafe { libc::kill(pid, libc::SIGCONT) };
        });
        Self { pid, watchdog }
    }
}

impl Drop for StalledServer {
    fn drop(&mut self) {
        self.watchdog.abort();
        unsafe { libc::kill(self.pid, libc::SIGCONT) };
    }
}

/// A link that stops delivering after the master is up (a partition, a suspended laptop, a
/// server under swap) must not hold calls past their timeout or their cancellation, and what
/// they asked to run must not be left running when the link comes back.
///
/// OpenSSH's master answers a new-session request only once the server confirms the channel, so
/// opening a session is raced against the call's timeout and cancellation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_connection_cannot_hold_a_call_past_its_timeout_or_cancellation() {
    let sshd = Sshd::start();
    let mut d = Daemon::start(&sshd.ssh_config());
    let pid = d.status().await.pid;
    d.exec(run_request("true")).await.unwrap();
    let marker = unique_marker("stall");
    let stalled = StalledServer::stall(&sshd, Duration::from_secs(30));

    // A call that is cancelled while its channel cannot open.
    let cancelled = ExecClient::new(d.channel().await)
        .run(run_request(&format!("export {marker}; sleep 300")))
        .await
        .unwrap()
        .into_inner();
    let (status, leased) =
        wait_for_status(&d, Duration::from_secs(10), |s| s.connections_busy >= 1).await;
    assert!(leased, "the call never took a channel: {status:?}");
    drop(cancelled);

    // A call with a 2 s timeout.
    let mut req = run_request(&format!("export {marker}; sleep 300"));
    req.timeout_seconds = Some(2.0);
    let started = std::time::Instant::now();
    let timed = tokio::time::timeout(Duration::from_secs(25), d.exec(req)).await;
    let took = started.elapsed();
    drop(stalled);

    let (status, idle) = wait_for_status(&d, Duration::from_secs(20), |s| {
        s.running_commands == 0 && s.connections_busy == 0
    })
    .await;
    // The stalled opens complete once the link is back: show that they did (their sessions
    // opened late on the host), so that "nothing left" below is about commands that started.
    let opened_late = wait_until_async(Duration::from_secs(20), || {
        d.log().contains("session opened late")
    })
    .await;
    let gone = wait_until_async(Duration::from_secs(10), || {
        pids_with_env_marker(&marker).is_empty()
    })
    .await;
    let left = pids_with_env_marker(&marker);
    for p in &left {
        unsafe { libc::kill(*p as i32, libc::SIGKILL) };
    }
    let mut problems = Vec::new();
    match &timed {
        Err(_) => problems.push(format!("the 2 s call had no answer after {took:?}")),
        Ok(Ok(f)) if !f.timed_out => problems.push(format!("the 2 s call did not time out: {f:?}")),
        Ok(_) if took > Duration::from_secs(8) => {
            problems.push(format!("the 2 s call took {took:?}"))
        }
        Ok(_) => {}
    }
    if !opened_late {
        problems.push("no stalled session opened once the link came back".into());
    }
    if !gone {
        problems.push(format!(
            "commands ran on after the link came back (pids {left:?})"
        ));
    }
    if !idle {
        problems.push(format!("calls still running or leased: {status:?}"));
    }
    assert!(problems.is_empty(), "{}", problems.join("; "));
    assert_daemon_healthy(&mut d, pid).await;
}

/// Every byte of every command arrives when many run at once (4 rounds of 16 concurrent calls:
/// `echo`, `echo` with a tty, 200,000 bytes, 200,000 bytes with a tty). The master's exit report
/// can overtake the last of the output, so the session stays open until the pipes reach EOF.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_deliver_their_whole_output() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let channel = d.channel().await;
    let mut lost = Vec::new();
    for round in 0..4 {
        let mut calls = Vec::new();
        for k in 0..16 {
            let tty = k % 2 == 0;
            let small = k % 4 < 2;
            let command = if small {
                format!("echo out-{round}-{k}")
            } else {
                "head -c 200000 /dev/zero | tr '\\0' z".to_owned()
            };
            let mut client = ExecClient::new(channel.clone());
            calls.push(tokio::spawn(async move {
                let mut req = run_request(&format!("{command}; exit 3"));
                req.tty = tty;
                req.max_output_bytes = if small { 0 } else { 64 };
                let mut s = client.run(req).await?.into_inner();
                while let Some(ev) = s.message().await? {
                    if let Some(ssh_mcp_core::pb::run_event::Event::Finished(f)) = ev.event {
                        return Ok::<_, tonic::Status>((tty, small, command, f));
                    }
                }
                Err(tonic::Status::internal("no result"))
            }));
        }
        for c in calls {
            let (tty, small, command, f) = c.await.unwrap().unwrap();
            assert_eq!(f.exit_code, Some(3));
            let complete = if small {
                let out = String::from_utf8_lossy(&f.stdout);
                command.strip_prefix("echo ") == Some(out.trim_end())
            } else {
                f.stdout_bytes == 200_000
            };
            if !complete {
                lost.push(format!(
                    "round {round}, tty {tty}, {command:?}: got {} bytes {:?}",
                    f.stdout_bytes,
                    String::from_utf8_lossy(&f.stdout[..f.stdout.len().min(40)])
                ));
            }
        }
    }
    assert!(lost.is_empty(), "output lost: {lost:#?}");
}
