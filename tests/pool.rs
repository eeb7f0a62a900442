//! The ControlMaster pool under pressure: queued calls keep waiting for a live master while
//! extra masters cannot be opened, and a master authenticates with the agent of the call that
//! opens it (not with the agent of whichever client came first).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use ssh_mcp_core::pb;

use crate::support::daemon::{Daemon, run_request};
use crate::support::sshd::Sshd;
use crate::support::{ChildGuard, Scratch, eventually, wait_until, wait_until_async};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queued_calls_wait_for_the_live_master_when_extra_masters_fail() {
    let mut sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let first = d.exec(run_request("echo up")).await.unwrap();
    assert_eq!(first.stdout, b"up\n");
    // From now on every new connection is refused; the master's connection lives on.
    sshd.stop_listening();
    let calls = (0..20).map(|n| {
        let d = &d;
        async move {
            d.exec(run_request(&format!("sleep 0.3; echo call-{n}")))
                .await
        }
    });
    let results = futures_join_all(calls).await;
    for (n, r) in results.into_iter().enumerate() {
        let f = r.unwrap_or_else(|e| panic!("call {n} failed: {}", e.message()));
        assert_eq!(f.exit_code, Some(0), "call {n}");
        assert_eq!(f.stdout, format!("call-{n}\n").into_bytes(), "call {n}");
    }
    // The premise held: extra masters were tried and failed, and one master served all.
    assert!(
        d.log().contains("control master failed"),
        "no extra master was tried:\n{}",
        d.log()
    );
    assert_eq!(d.status().await.control_masters, 1);
}

/// Joins futures without another dependency: each runs as its own task.
async fn futures_join_all<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T>,
{
    // The futures borrow the daemon, so they are polled here rather than spawned.
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<T>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// An ssh-agent of its own on `socket`, holding `key`.
fn agent_with_key(socket: &Path, key: &Path) -> ChildGuard {
    let agent = ChildGuard(
        Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh-agent starts (apt-get install openssh-client)"),
    );
    assert!(
        wait_until(Duration::from_secs(5), || socket.exists()),
        "ssh-agent did not create {}",
        socket.display()
    );
    let added = Command::new("ssh-add")
        .arg("-q")
        .arg(key)
        .env("SSH_AUTH_SOCK", socket)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(added.success(), "ssh-add failed");
    agent
}

fn request_with_agent(command: &str, auth_sock: &Path) -> pb::RunRequest {
    let mut req = run_request(command);
    let conn = req.connection.get_or_insert_with(Default::default);
    conn.target = "agenthost".into();
    conn.ssh_auth_sock = Some(auth_sock.display().to_string());
    req
}

fn master_pids(daemon: &Daemon) -> Vec<u32> {
    crate::support::masters_of(daemon.pid())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_master_opens_with_the_agent_of_its_caller() {
    let sshd = Sshd::start();
    let scratch = Scratch::new("agents");
    // A host reached only through an agent: no identity file in the config.
    let config = scratch.join("ssh_config");
    std::fs::write(
        &config,
        format!(
            "Host agenthost\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  UserKnownHostsFile {}\n  \
             StrictHostKeyChecking yes\n",
            sshd.port,
            std::env::var("USER").unwrap_or_else(|_| "root".into()),
            sshd.dir.join("known_hosts").display()
        ),
    )
    .unwrap();
    let d = Daemon::start(&config);

    // The first client's agent opens the master, then goes away with it.
    let first_sock = scratch.join("agent-1.sock");
    let first_agent = agent_with_key(&first_sock, &sshd.identity());
    let f = d
        .exec(request_with_agent("echo one", &first_sock))
        .await
        .unwrap();
    assert_eq!(f.stdout, b"one\n");
    drop(first_agent);
    let _ = std::fs::remove_file(&first_sock);
    for pid in master_pids(&d) {
        // SAFETY: kill has no memory preconditions; the pid is a master of our daemon.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGTERM);
        }
    }
    assert!(
        wait_until_async(Duration::from_secs(10), || master_pids(&d).is_empty()).await,
        "the master did not end"
    );

    // A second client with its own agent gets a new master, authenticated by that agent.
    let second_sock = scratch.join("agent-2.sock");
    let _second_agent = agent_with_key(&second_sock, &sshd.identity());
    let f = d
        .exec(request_with_agent("echo two", &second_sock))
        .await
        .unwrap_or_else(|e| panic!("{}\n{}", e.message(), d.log()));
    assert_eq!(f.stdout, b"two\n");

    // Queued behind an open that fails with another agent, a call still gets its own master.
    for pid in master_pids(&d) {
        // SAFETY: as above.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGTERM);
        }
    }
    assert!(
        wait_until_async(Duration::from_secs(10), || master_pids(&d).is_empty()).await,
        "the master did not end"
    );
    // An agent that accepts and never answers holds the first open until it is closed.
    let mute_sock = scratch.join("mute.sock");
    let mute = tokio::net::UnixListener::bind(&mute_sock).unwrap();
    let doomed = {
        let d = &d;
        let req = request_with_agent("echo doomed", &mute_sock);
        async move { d.exec(req).await }
    };
    let queued = {
        let d = &d;
        let req = request_with_agent("echo queued", &second_sock);
        async move {
            // The first call's ssh is talking to the mute agent now.
            let (held, _) = tokio::time::timeout(Duration::from_secs(10), mute.accept())
                .await
                .expect("the first call's ssh asks its agent")
                .unwrap();
            // Once this call is queued behind the opening master, end the mute agent
            // (connection and listener), so that open fails.
            let fail_the_open = async {
                let queued = eventually(Duration::from_secs(10), || async {
                    let s = d.status().await;
                    (s.calls_waiting >= 2 && s.masters_opening == 1).then_some(())
                })
                .await;
                assert!(
                    queued.is_some(),
                    "the call never queued behind the opening master"
                );
                drop((held, mute));
                let _ = std::fs::remove_file(&mute_sock);
            };
            let (r, ()) = tokio::join!(d.exec(req), fail_the_open);
            r
        }
    };
    let (doomed, queued) = tokio::join!(doomed, queued);
    let queued =
        queued.unwrap_or_else(|e| panic!("queued call failed: {}\n{}", e.message(), d.log()));
    assert_eq!(queued.stdout, b"queued\n");
    // The first call's ssh had no usable agent: it failed, or got a channel on the second master.
    if let Ok(f) = doomed {
        assert_eq!(f.stdout, b"doomed\n");
    }
}

/// Sessions and forwards hold a channel for life; past the per-connection limit (lowered to 2
/// here) another one is refused at once, naming the limit and what to stop, while short calls to
/// the same connection still run, and a stop frees a place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lived_holders_are_limited_per_connection_and_short_calls_still_run() {
    use crate::support::daemon::DaemonOptions;
    use ssh_mcp_core::pb::forwards_client::ForwardsClient;
    use ssh_mcp_core::pb::sessions_client::SessionsClient;
    let sshd = Sshd::start();
    let d = Daemon::start_with(DaemonOptions {
        ssh_config: Some(sshd.ssh_config()),
        extra_args: vec!["--max-long-lived".into(), "2".into()],
        ..Default::default()
    })
    .unwrap();
    let (user, _) = crate::support::accounts::login_shell_account("dash");
    let connection = pb::Connection {
        target: format!("{user}@testhost"),
        ..Default::default()
    };
    let session = || pb::OpenSessionRequest {
        connection: Some(connection.clone()),
        observer_mode: Some("transcript".into()),
        ..Default::default()
    };
    let forward = || pb::OpenForwardRequest {
        connection: Some(connection.clone()),
        direction: "dynamic".into(),
        local_port: Some(u32::from(
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port(),
        )),
        ..Default::default()
    };
    let mut sessions = SessionsClient::new(d.channel().await);
    let mut forwards = ForwardsClient::new(d.channel().await);
    let first = sessions.open(session()).await.unwrap().into_inner();
    let first_id = first.snapshot.unwrap().session_id;
    forwards.open(forward()).await.unwrap();

    // A third holder: refused at once, with the limit and the way out in the message.
    let asked = std::time::Instant::now();
    let refused = sessions.open(session()).await.unwrap_err();
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(
        refused.code(),
        tonic::Code::ResourceExhausted,
        "{refused:?}"
    );
    for words in [
        "1 sessions and 1 forwards",
        "--max-long-lived",
        "ssh_stop_session",
        "ssh_stop_forward",
    ] {
        assert!(
            refused.message().contains(words),
            "{words}: {}",
            refused.message()
        );
    }
    let refused = forwards.open(forward()).await.unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::ResourceExhausted,
        "{refused:?}"
    );

    // Short calls to the same connection still run.
    let mut exec = run_request("echo short");
    exec.connection = Some(connection.clone());
    assert_eq!(d.exec(exec).await.unwrap().stdout, b"short\n");

    // A stop gives the place back.
    sessions
        .stop(pb::StopSessionRequest {
            session_id: first_id,
            force: true,
            wait_seconds: Some(10.0),
            ..Default::default()
        })
        .await
        .unwrap();
    let again = sessions.open(session()).await.unwrap().into_inner();
    assert!(again.snapshot.unwrap().running);
}

#[test]
fn the_long_lived_limit_is_checked_at_start_up() {
    use crate::support::daemon::DaemonOptions;
    for bad in ["0", "136"] {
        let e = Daemon::start_with(DaemonOptions {
            extra_args: vec!["--max-long-lived".into(), bad.into()],
            ..Default::default()
        })
        .err()
        .unwrap_or_else(|| panic!("--max-long-lived {bad} was taken"));
        assert!(e.contains("between 1 and 135"), "{e}");
    }
}
