//! The ControlMaster pool under pressure: queued calls keep waiting for a live master while
//! extra masters cannot be opened, and a master authenticates with the agent of the call that
//! opens it (not with the agent of whichever client came first).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use ssh_mcp_core::pb;

use crate::support::daemon::{Daemon, run_request};
use crate::support::sshd::Sshd;
use crate::support::{ChildGuard, Scratch, wait_until, wait_until_async};

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
            let mut call = std::pin::pin!(d.exec(req));
            let mut mute_agent = Some((held, mute));
            loop {
                tokio::select! {
                    r = &mut call => return r,
                    // Poll the daemon until this call is queued behind the opening master, then
                    // end the mute agent (connection and listener), so that open fails.
                    _ = tokio::time::sleep(Duration::from_millis(5)), if mute_agent.is_some() => {
                        let s = d.status().await;
                        if s.calls_waiting >= 2 && s.masters_opening == 1 {
                            drop(mute_agent.take());
                            let _ = std::fs::remove_file(&mute_sock);
                        }
                    }
                }
            }
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
