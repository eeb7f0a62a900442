//! `ssh-mcp attach` driven as a person would, in a real terminal (tmux): it shows the session,
//! takes keystrokes, follows the terminal's size, and detaches on Ctrl-] while the session keeps
//! running.

use std::process::Command;
use std::time::Duration;

use ssh_mcp_core::pb::{self, sessions_client::SessionsClient};

use crate::support::daemon::Daemon;
use crate::support::sshd::Sshd;
use crate::support::{Scratch, shim_bin, wait_until};

/// A private tmux server (its own socket) for one test, killed on drop.
struct Tmux {
    socket: std::path::PathBuf,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs (apt-get install tmux)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "t"])
    }

    fn wait_for(&self, needle: &str) -> String {
        let mut last = String::new();
        let seen = wait_until(Duration::from_secs(20), || {
            last = self.screen();
            last.contains(needle)
        });
        assert!(seen, "the terminal never showed {needle:?}:\n{last}");
        last
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

async fn snapshot(d: &Daemon, id: &str) -> pb::SessionSnapshot {
    SessionsClient::new(d.channel().await)
        .read(pb::ReadSessionRequest {
            session_id: id.into(),
            read: Some(pb::ReadOptions {
                wait_seconds: Some(0.0),
                reader_id: "test".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .snapshot
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_types_sees_follows_the_size_and_detaches() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let opened = SessionsClient::new(d.channel().await)
        .open(pb::OpenSessionRequest {
            // An account with the system's default rc files (see tests/sessions.rs).
            connection: Some(pb::Connection {
                target: format!(
                    "{}@testhost",
                    crate::support::accounts::login_shell_account("bash").0
                ),
                ..Default::default()
            }),
            session_name: Some("for-people".into()),
            observer_mode: Some("transcript".into()),
            read: None,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let id = opened.snapshot.unwrap().session_id;

    let scratch = Scratch::new("tmux");
    let tmux = Tmux {
        socket: scratch.join("tmux.sock"),
    };
    let command = format!(
        "env SSH_MCP_SOCKET={} SSH_MCP_NO_AUTOSTART=1 {} attach for-people; echo ATTACH-EXITED; sleep 60",
        d.socket.display(),
        shim_bin().display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "120",
        "-y",
        "40",
        &command,
    ]);
    tmux.wait_for("Ctrl-] detaches");
    // The session took the terminal's size (the daemon resizes before it answers the attach).
    let snap = snapshot(&d, &id).await;
    assert_eq!((snap.rows, snap.cols), (40, 120), "{snap:?}");

    tmux.run(&["send-keys", "-t", "t", "echo typed-$((6*7))", "Enter"]);
    tmux.wait_for("typed-42");

    // A person resizes the terminal: the session follows.
    tmux.run(&["resize-window", "-t", "t", "-x", "100", "-y", "30"]);
    let mut snap = snapshot(&d, &id).await;
    let followed = wait_until(Duration::from_secs(10), || {
        snap = futures_lite_block(snapshot(&d, &id));
        (snap.rows, snap.cols) == (30, 100)
    });
    assert!(followed, "the session did not follow the resize: {snap:?}");

    tmux.run(&["send-keys", "-t", "t", "C-]"]);
    let screen = tmux.wait_for("ATTACH-EXITED");
    assert!(screen.contains("detached"), "{screen}");
    let snap = snapshot(&d, &id).await;
    assert!(snap.running, "detaching ended the session: {snap:?}");
}

/// Runs a future to completion from synchronous code inside the test's runtime.
fn futures_lite_block<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}
