//! ssh_exec at the gRPC boundary: output and exit status, connection reuse, sshd's session
//! limits, output caps, and ending remote commands on timeout, cancellation and shutdown.

use std::time::Duration;

use ssh_mcp_core::pb::exec_client::ExecClient;
use ssh_mcp_core::pb::{self, run_event::Event};

use crate::support::daemon::{Daemon, run_request};
use crate::support::sshd::Sshd;
use crate::support::{
    children_of, master_pids, pids_with_env_marker, unique_marker, wait_until_async,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_returns_output_and_exit_code() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let f = d
        .exec(run_request("echo out; echo err >&2; exit 3"))
        .await
        .unwrap();
    assert_eq!(f.exit_code, Some(3));
    assert_eq!(f.stdout, b"out\n");
    assert_eq!(f.stderr, b"err\n");
    assert!(!f.timed_out);
    assert_eq!(f.target, "testhost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_applies_cwd_env_and_shell() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let mut req = run_request("printf '%s|%s|%s' \"$PWD\" \"$GREETING\" \"$0\"");
    req.cwd = Some("/tmp".into());
    req.env = vec![pb::EnvVar {
        name: "GREETING".into(),
        value: "it's a \"test\" $(id)".into(),
    }];
    req.shell = Some("bash".into());
    let f = d.exec(req).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&f.stdout),
        "/tmp|it's a \"test\" $(id)|bash"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_reuses_one_control_master() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let first = d.exec(run_request("true")).await.unwrap();
    let second = d.exec(run_request("true")).await.unwrap();
    assert!(!first.reused_connection);
    assert!(second.reused_connection);
    assert_eq!(d.status().await.control_masters, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_parallel_commands_all_succeed_under_default_max_sessions() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let channel = d.channel().await;
    let mut calls = Vec::new();
    for i in 0..20 {
        let mut client = ExecClient::new(channel.clone());
        calls.push(tokio::spawn(async move {
            let mut s = client
                .run(run_request(&format!("sleep 0.5; echo {i}")))
                .await?
                .into_inner();
            while let Some(ev) = s.message().await? {
                if let Some(Event::Finished(f)) = ev.event {
                    return Ok::<_, tonic::Status>((i, f));
                }
            }
            Err(tonic::Status::internal("no result"))
        }));
    }
    for call in calls {
        let (i, f) = call.await.unwrap().unwrap();
        assert_eq!(
            f.exit_code,
            Some(0),
            "call {i}: {}",
            String::from_utf8_lossy(&f.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&f.stdout).trim(), i.to_string());
    }
    let masters = d.status().await.control_masters;
    assert!(
        (3..=8).contains(&masters),
        "20 channels at 9 per master need 3 masters, got {masters}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_is_capped_and_counted_and_bytes_survive() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let mut req = run_request("head -c 100000 /dev/zero | tr '\\0' x; printf 'a\\000b\\377' >&2");
    req.max_output_bytes = 1000;
    let f = d.exec(req).await.unwrap();
    assert!(f.stdout_truncated);
    assert_eq!(f.stdout_bytes, 100_000);
    assert!(f.stdout.len() <= 1000, "kept {} bytes", f.stdout.len());
    // Head and tail meet at cut_at; the shim writes the marker there.
    assert_eq!(f.stdout_cut_at, Some(500));
    // The whole output is kept up to max_output_bytes, and the result says so.
    assert!(f.output_id.starts_with("out-"), "{}", f.output_id);
    assert!(
        f.output_note.contains("max_output_bytes (1000)"),
        "{}",
        f.output_note
    );
    assert!(!f.stderr_truncated);
    assert_eq!(f.stderr, b"a\0b\xff");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tty_mode_gives_the_command_a_terminal() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let mut req = run_request("tty -s && echo has-tty; exit 4");
    req.tty = true;
    let f = d.exec(req).await.unwrap();
    assert_eq!(f.exit_code, Some(4));
    let out = String::from_utf8_lossy(&f.stdout);
    assert!(out.contains("has-tty"), "{out:?}");
    assert!(
        !out.contains("ssh-mcp-pid"),
        "the pid report leaked: {out:?}"
    );
}

fn stubborn_command(marker: &str) -> String {
    // Ignores SIGTERM (ignored signals stay ignored in children) and leaves a child behind.
    format!("export {marker}; trap '' TERM; sleep 300 & sleep 300")
}

/// Starts [`stubborn_command`] and returns its event stream once both remote processes run.
async fn start_stubborn(d: &Daemon, marker: &str) -> tonic::Streaming<pb::RunEvent> {
    let stream = ExecClient::new(d.channel().await)
        .run(run_request(&stubborn_command(marker)))
        .await
        .unwrap()
        .into_inner();
    let started = wait_until_async(Duration::from_secs(10), || {
        pids_with_env_marker(marker).len() >= 2
    })
    .await;
    assert!(started, "the remote command did not start");
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_ends_the_remote_process_group_even_when_it_ignores_sigterm() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let marker = unique_marker("timeout");
    let mut req = run_request(&stubborn_command(&marker));
    req.timeout_seconds = Some(1.0);
    let f = d.exec(req).await.unwrap();
    assert!(f.timed_out);
    assert_eq!(f.exit_code, None);
    assert_eq!(
        f.signal,
        Some(9),
        "SIGTERM was ignored, so SIGKILL must have ended it"
    );
    let gone = wait_until_async(Duration::from_secs(5), || {
        pids_with_env_marker(&marker).is_empty()
    })
    .await;
    assert!(
        gone,
        "processes left on the host: {:?}",
        pids_with_env_marker(&marker)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_ends_a_silent_remote_command() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let marker = unique_marker("cancel");
    let mut stream = start_stubborn(&d, &marker).await;
    // The client goes away: dropping the stream resets it, as an MCP cancellation does.
    let pending = tokio::time::timeout(Duration::from_millis(100), stream.message()).await;
    assert!(pending.is_err(), "the command finished on its own");
    drop(stream);
    let gone = wait_until_async(Duration::from_secs(10), || {
        pids_with_env_marker(&marker).is_empty()
    })
    .await;
    assert!(
        gone,
        "processes left on the host: {:?}",
        pids_with_env_marker(&marker)
    );
    // The call finishes its clean-up in the background; wait for the count to drop.
    let idle = crate::support::eventually(Duration::from_secs(5), || async {
        (d.status().await.running_commands == 0).then_some(())
    })
    .await;
    assert!(
        idle.is_some(),
        "the cancelled call is still counted as running"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_failures_come_back_with_sshs_words_and_a_hint() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let mut req = run_request("true");
    req.connection = Some(pb::Connection {
        target: "no-such-host.invalid".into(),
        ..Default::default()
    });
    let err = d.exec(req).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert!(
        err.message().contains("no-such-host.invalid"),
        "{}",
        err.message()
    );
    assert!(
        err.message().contains("Check the host name"),
        "{}",
        err.message()
    );

    let mut req = run_request("true");
    req.connection = Some(pb::Connection {
        target: "testhost".into(),
        identity_file: Some(sshd.dir.join("known_hosts").display().to_string()),
        extra_ssh_args: vec!["-o".into(), "User=nobody".into()],
        ..Default::default()
    });
    let err = d.exec(req).await.unwrap_err();
    assert!(
        err.message().contains("Permission denied"),
        "{}",
        err.message()
    );
    assert!(
        err.message().contains("authorized_keys"),
        "{}",
        err.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_master_is_replaced_on_the_next_call() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    d.exec(run_request("true")).await.unwrap();
    let control_dir = d.socket.parent().unwrap().join("cm").display().to_string();
    let masters = master_pids(&control_dir);
    assert_eq!(masters.len(), 1, "{masters:?}");
    unsafe {
        libc::kill(masters[0] as i32, libc::SIGKILL);
    }
    let gone = wait_until_async(Duration::from_secs(5), || {
        master_pids(&control_dir).is_empty()
    })
    .await;
    assert!(gone);
    let f = d.exec(run_request("echo again")).await.unwrap();
    assert_eq!(f.stdout, b"again\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_running_commands_masters_and_the_socket() {
    let sshd = Sshd::start();
    let mut d = Daemon::start(&sshd.ssh_config());
    let marker = unique_marker("shutdown");
    let mut stream = start_stubborn(&d, &marker).await;
    let control_dir = d.socket.parent().unwrap().join("cm").display().to_string();
    assert_eq!(master_pids(&control_dir).len(), 1);
    let pid = d.pid();
    // Recorded before the signal: once the daemon is gone, its orphans belong to init.
    let children = children_of(pid);
    assert!(
        master_pids(&control_dir)
            .iter()
            .all(|m| children.contains(m)),
        "the master is not among the daemon's children {children:?}"
    );
    let socket = d.socket.clone();
    let (status, d) = tokio::task::spawn_blocking(move || (d.terminate(), d))
        .await
        .unwrap();
    assert!(status.success(), "exit status {status}");
    assert!(!socket.exists(), "the socket was left behind");
    drop(d);
    // The client saw the command end rather than hang.
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("stream ended");
    assert!(
        pids_with_env_marker(&marker).is_empty(),
        "remote command left behind"
    );
    assert!(
        master_pids(&control_dir).is_empty(),
        "control master left behind"
    );
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    let left: Vec<u32> = children
        .into_iter()
        .filter(|c| std::path::Path::new(&format!("/proc/{c}")).exists())
        .collect();
    assert!(left.is_empty(), "children of the daemon left: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_master_closes_after_the_persist_time_and_reopens_on_demand() {
    use crate::support::daemon::DaemonOptions;
    let sshd = Sshd::start();
    let d = Daemon::start_with(DaemonOptions {
        ssh_config: Some(sshd.ssh_config()),
        extra_args: vec!["--control-persist".into(), "1".into()],
        ..Default::default()
    })
    .unwrap();
    d.exec(run_request("true")).await.unwrap();
    let control_dir = d.socket.parent().unwrap().join("cm").display().to_string();
    assert_eq!(master_pids(&control_dir).len(), 1);
    let closed = wait_until_async(Duration::from_secs(10), || {
        master_pids(&control_dir).is_empty()
    })
    .await;
    assert!(closed, "the idle master is still open");
    assert_eq!(d.status().await.control_masters, 0);
    let f = d.exec(run_request("echo back")).await.unwrap();
    assert_eq!(f.stdout, b"back\n");
    assert!(!f.reused_connection);
}
