//! Persistent sessions through the daemon's Sessions service, against the real sshd: a shell
//! under a PTY the daemon owns, found again by name, read by two readers with their own cursors,
//! sized, stopped, and ended by the daemon's shutdown.

use std::time::Duration;

use ssh_mcp_core::pb::{self, sessions_client::SessionsClient};
use tonic::transport::Channel;

use crate::support::daemon::Daemon;
use crate::support::sshd::Sshd;
use crate::support::{pids_with_env_marker, unique_marker, wait_until_async};

/// Sessions log in as an account whose login shell is bash with the system's default rc files:
/// an interactive shell reads them, and this machine's own account may run anything from its
/// ~/.bashrc (a stopped session must not leave its locks behind either).
fn connection() -> pb::Connection {
    let (user, _) = crate::support::accounts::login_shell_account("bash");
    pb::Connection {
        target: format!("{user}@testhost"),
        ..Default::default()
    }
}

fn reading(reader: &str, wait: f64) -> Option<pb::ReadOptions> {
    Some(pb::ReadOptions {
        wait_seconds: Some(wait),
        reader_id: reader.into(),
        ..Default::default()
    })
}

async fn client(d: &Daemon) -> SessionsClient<Channel> {
    SessionsClient::new(d.channel().await)
}

async fn open(
    d: &Daemon,
    name: Option<&str>,
    ensure: bool,
) -> Result<pb::SessionReply, tonic::Status> {
    client(d)
        .await
        .open(pb::OpenSessionRequest {
            connection: Some(connection()),
            session_name: name.map(str::to_owned),
            observer_mode: Some("transcript".into()),
            ensure,
            read: reading("test", 1.0),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Reads as `reader` until the text read so far holds `needle` (or 20 s pass).
async fn read_until(d: &Daemon, id: &str, reader: &str, needle: &str) -> String {
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !seen.contains(needle) && std::time::Instant::now() < deadline {
        let r = client(d)
            .await
            .read(pb::ReadSessionRequest {
                session_id: id.into(),
                read: reading(reader, 1.0),
            })
            .await
            .unwrap()
            .into_inner();
        seen.push_str(&String::from_utf8_lossy(&r.snapshot.unwrap().output));
    }
    seen
}

async fn write(d: &Daemon, id: &str, input: &str) -> pb::SessionReply {
    client(d)
        .await
        .write(pb::WriteSessionRequest {
            session_id: id.into(),
            input: input.as_bytes().to_vec(),
            read: reading("writer", 0.0),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_session_keeps_its_state_and_is_found_again() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let first = open(&d, Some("work"), false).await.unwrap();
    assert!(first.created);
    let snap = first.snapshot.unwrap();
    assert!(snap.running);
    assert_eq!((snap.rows, snap.cols), (50, 200));
    let id = snap.session_id;
    write(&d, &id, "export SSHMCP_KEPT=still-here; stty size\n").await;
    let out = read_until(&d, &id, "a", "50 200").await;
    assert!(out.contains("50 200"), "{out:?}");
    assert!(
        !out.contains("ssh-mcp-pid"),
        "the pid report leaked: {out:?}"
    );

    let again = open(&d, Some("work"), true).await.unwrap();
    assert!(again.reused && !again.created);
    assert_eq!(again.matched_by.as_deref(), Some("session_name"));
    assert_eq!(again.snapshot.as_ref().unwrap().session_id, id);
    let dup = open(&d, Some("work"), false).await.unwrap_err();
    assert!(
        dup.message().contains("ssh_ensure_session"),
        "{}",
        dup.message()
    );
    // An unnamed ensure does not take over the named session.
    let unnamed = open(&d, None, true).await.unwrap();
    assert!(unnamed.created);
    assert_ne!(unnamed.snapshot.unwrap().session_id, id);

    write(&d, &id, "echo \"value=$SSHMCP_KEPT\"\n").await;
    let out = read_until(&d, &id, "b", "value=still-here").await;
    assert!(out.contains("value=still-here"), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_readers_each_see_all_output_once_and_a_late_one_learns_what_it_missed() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let id = open(&d, None, false)
        .await
        .unwrap()
        .snapshot
        .unwrap()
        .session_id;
    // The needles are computed by the shell, so the echo of the typed line never holds them.
    write(&d, &id, "seq 1 3000; echo seq-$((1+1))done\n").await;
    for reader in ["one", "two"] {
        let out = read_until(&d, &id, reader, "seq-2done\r\n").await;
        let numbers: Vec<&str> = out
            .lines()
            // What a carriage return overwrote (a prompt's escapes) is not on the line.
            .filter_map(|l| l.rsplit('\r').find(|s| !s.is_empty()))
            .map(str::trim)
            .filter(|l| l.chars().all(|c| c.is_ascii_digit()) && !l.is_empty())
            .collect();
        let expected: Vec<String> = (1..=3000).map(|n| n.to_string()).collect();
        assert!(
            numbers == expected,
            "reader {reader}: {} numbers, first {:?}; output starts {:?}",
            numbers.len(),
            &numbers[..numbers.len().min(5)],
            out.chars().take(300).collect::<String>()
        );
    }
    // A flood past the ring (4 MiB): a reader that did not keep up is told what it missed.
    write(
        &d,
        &id,
        "head -c 6000000 /dev/zero | tr '\\0' x; echo; echo flood-$((1+1))done\n",
    )
    .await;
    let quiet = read_until(&d, &id, "one", "flood-2done").await;
    assert!(quiet.contains("flood-2done"));
    let r = client(&d)
        .await
        .read(pb::ReadSessionRequest {
            session_id: id.clone(),
            read: reading("late", 0.0),
        })
        .await
        .unwrap()
        .into_inner()
        .snapshot
        .unwrap();
    assert!(r.dropped_bytes > 0, "dropped {}", r.dropped_bytes);
    assert!(r.truncated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_the_remote_shell_and_its_jobs() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let id = open(&d, Some("stoppable"), false)
        .await
        .unwrap()
        .snapshot
        .unwrap()
        .session_id;
    let marker = unique_marker("session");
    write(
        &d,
        &id,
        &format!("export {marker}; sleep 300 & sleep 301\n"),
    )
    .await;
    assert!(
        wait_until_async(Duration::from_secs(10), || pids_with_env_marker(&marker)
            .len()
            >= 2)
        .await,
        "the jobs did not start"
    );
    let stopped = client(&d)
        .await
        .stop(pb::StopSessionRequest {
            session_id: id.clone(),
            force: false,
            wait_seconds: Some(10.0),
            read: reading("s", 0.0),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stopped.was_running, Some(true));
    let snap = stopped.snapshot.unwrap();
    assert!(!snap.running, "{snap:?}");
    assert!(
        matches!(snap.exit_reason.as_deref(), Some("terminated" | "killed")),
        "{snap:?}"
    );
    assert!(
        wait_until_async(Duration::from_secs(10), || pids_with_env_marker(&marker)
            .is_empty())
        .await,
        "jobs left: {:?}",
        pids_with_env_marker(&marker)
    );
    let listed = client(&d)
        .await
        .list(pb::ListSessionsRequest {
            include_exited: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        listed
            .sessions
            .iter()
            .any(|s| s.session_id == id && !s.running)
    );
    let running = client(&d)
        .await
        .list(pb::ListSessionsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(running.sessions.iter().all(|s| s.session_id != id));
    let missing = client(&d)
        .await
        .read(pb::ReadSessionRequest {
            session_id: "nope".into(),
            read: None,
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shell_that_exits_is_reported_with_its_status() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let id = open(&d, None, false)
        .await
        .unwrap()
        .snapshot
        .unwrap()
        .session_id;
    write(&d, &id, "exit 3\n").await;
    let mut snap = None;
    for _ in 0..40 {
        let s = client(&d)
            .await
            .read(pb::ReadSessionRequest {
                session_id: id.clone(),
                read: reading("x", 0.5),
            })
            .await
            .unwrap()
            .into_inner()
            .snapshot
            .unwrap();
        if !s.running {
            snap = Some(s);
            break;
        }
    }
    let snap = snap.expect("the session ended");
    assert_eq!(snap.exit_code, Some(3));
    assert_eq!(snap.exit_reason.as_deref(), Some("exit-3"));
    let written = client(&d)
        .await
        .write(pb::WriteSessionRequest {
            session_id: id,
            input: b"echo late\n".to_vec(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(written.code(), tonic::Code::FailedPrecondition);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_shutdown_ends_every_session_and_observer() {
    let sshd = Sshd::start();
    // A tmux server of this test's own, not the default one of whoever runs the tests.
    let tmux_dir = crate::support::Scratch::new("tmux");
    let mut d = Daemon::start_with(crate::support::daemon::DaemonOptions {
        ssh_config: Some(sshd.ssh_config()),
        env: vec![("TMUX_TMPDIR".into(), tmux_dir.path.display().to_string())],
        ..Default::default()
    })
    .unwrap();
    let opened = client(&d)
        .await
        .open(pb::OpenSessionRequest {
            connection: Some(connection()),
            session_name: Some("observed.one:x".into()),
            observer_mode: Some("tmux".into()),
            read: reading("t", 0.5),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let snap = opened.snapshot.unwrap();
    let observer = snap.observer.unwrap();
    assert_eq!(observer.mode, "tmux", "{observer:?}");
    assert!(observer.tmux_started);
    assert!(!observer.tmux_session_name.contains(['.', ':']));
    let has_tmux = |name: &str| {
        std::process::Command::new("tmux")
            .env("TMUX_TMPDIR", &tmux_dir.path)
            .args(["has-session", "-t", &format!("={name}")])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(has_tmux(&observer.tmux_session_name));
    assert!(
        std::fs::metadata(&observer.transcript_path).is_ok_and(|m| {
            use std::os::unix::fs::PermissionsExt;
            m.permissions().mode() & 0o777 == 0o600
        }),
        "transcript {}",
        observer.transcript_path
    );
    let marker = unique_marker("shutdown-session");
    write(
        &d,
        &snap.session_id,
        &format!("export {marker}; sleep 300\n"),
    )
    .await;
    assert!(
        wait_until_async(Duration::from_secs(10), || !pids_with_env_marker(&marker)
            .is_empty())
        .await,
        "the job did not start"
    );
    let status = tokio::task::spawn_blocking(move || d.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(
        wait_until_async(Duration::from_secs(10), || pids_with_env_marker(&marker)
            .is_empty())
        .await,
        "the session's job outlived the daemon: {:?}",
        pids_with_env_marker(&marker)
    );
    assert!(
        !has_tmux(&observer.tmux_session_name),
        "the tmux observer outlived the daemon"
    );
}

/// The sshd processes that serve the daemon's one connection: the per-connection process and,
/// for an unprivileged account, the child it runs the session in.
fn connection_server(sshd: &Sshd) -> Vec<i32> {
    let listener =
        crate::support::pids_with_cmdline(&sshd.dir.join("sshd_config").display().to_string());
    let served: Vec<u32> = listener
        .iter()
        .flat_map(|l| crate::support::children_of(*l))
        .collect();
    assert_eq!(served.len(), 1, "sshd {listener:?} serves {served:?}");
    let mut all = served.clone();
    all.extend(
        crate::support::children_of(served[0])
            .into_iter()
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .is_ok_and(|c| c.starts_with("sshd"))
            }),
    );
    all.into_iter().map(|p| p as i32).collect()
}

fn signal_all(pids: &[i32], signal: i32) {
    for pid in pids {
        // SAFETY: kill has no memory preconditions; the pids are sshd processes of this test.
        unsafe { libc::kill(*pid, signal) };
    }
}

/// Waits until the session has ended; returns its snapshot and how long that took.
async fn wait_for_end(d: &Daemon, id: &str, limit: Duration) -> (pb::SessionSnapshot, Duration) {
    let started = std::time::Instant::now();
    loop {
        let snap = client(d)
            .await
            .read(pb::ReadSessionRequest {
                session_id: id.into(),
                read: reading("end", 1.0),
            })
            .await
            .unwrap()
            .into_inner()
            .snapshot
            .unwrap();
        if !snap.running || started.elapsed() > limit {
            return (snap, started.elapsed());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_host_ends_its_sessions_with_connection_lost_within_20_s() {
    // The server process dies: the connection closes at once.
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let id = open(&d, None, false)
        .await
        .unwrap()
        .snapshot
        .unwrap()
        .session_id;
    let server = connection_server(&sshd);
    signal_all(&server, libc::SIGKILL);
    let (snap, took) = wait_for_end(&d, &id, Duration::from_secs(20)).await;
    assert!(!snap.running, "still running after {took:?}");
    assert_eq!(snap.exit_reason.as_deref(), Some("connection-lost"));

    // The link goes silent (packets no longer answered): keepalives notice, with the defaults.
    let id = open(&d, None, false)
        .await
        .unwrap()
        .snapshot
        .unwrap()
        .session_id;
    let server = connection_server(&sshd);
    signal_all(&server, libc::SIGSTOP);
    let (snap, took) = wait_for_end(&d, &id, Duration::from_secs(25)).await;
    signal_all(&server, libc::SIGKILL);
    signal_all(&server, libc::SIGCONT);
    assert!(!snap.running, "still running after {took:?}");
    assert_eq!(snap.exit_reason.as_deref(), Some("connection-lost"));
    // Keepalives every 4 s, three unanswered: noticed after 12 to 16 s.
    assert!(took <= Duration::from_secs(20), "noticed after {took:?}");
    eprintln!("a silent link was noticed after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_old_sessions_are_listed_as_ended_with_readable_transcripts() {
    use crate::support::daemon::DaemonOptions;
    let sshd = Sshd::start();
    let state = crate::support::Scratch::new("state");
    let start = || {
        Daemon::start_with(DaemonOptions {
            ssh_config: Some(sshd.ssh_config()),
            state_dir: Some(state.join("s")),
            ..Default::default()
        })
        .unwrap()
    };
    let mut first = start();
    let first_pid = first.pid();
    let id = open(&first, Some("kept"), false)
        .await
        .unwrap()
        .snapshot
        .unwrap()
        .session_id;
    write(&first, &id, "echo before-restart | tr a-z A-Z\n").await;
    let out = read_until(&first, &id, "r", "BEFORE-RESTART\r\n").await;
    assert!(out.contains("BEFORE-RESTART\r\n"));
    // The daemon dies without a chance to clean up.
    let mut child = first.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    drop(first);

    let second = start();
    let listed = client(&second)
        .await
        .list(pb::ListSessionsRequest {
            include_exited: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(second.pid(), first_pid);
    let old = listed
        .sessions
        .iter()
        .find(|s| s.session_id == id)
        .expect("the old session is listed");
    assert!(!old.running);
    assert_eq!(old.session_name.as_deref(), Some("kept"));
    assert_eq!(
        old.exit_reason.as_deref(),
        Some("daemon-restarted"),
        "{old:?}"
    );
    let transcript = &old.observer.as_ref().unwrap().transcript_path;
    let text = std::fs::read_to_string(transcript).unwrap();
    assert!(text.contains("BEFORE-RESTART"), "{text:?}");
    // The session tools still read it.
    let out = read_until(&second, &id, "after", "BEFORE-RESTART").await;
    assert!(out.contains("BEFORE-RESTART"));
    // A new session with the old name can start: the old one is not running.
    let again = open(&second, Some("kept"), true).await.unwrap();
    assert!(again.created);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resizes_reach_the_host_and_the_screen_shows_what_was_drawn() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let id = open(&d, None, false)
        .await
        .unwrap()
        .snapshot
        .unwrap()
        .session_id;
    let resized = client(&d)
        .await
        .write(pb::WriteSessionRequest {
            session_id: id.clone(),
            input: b"stty size\n".to_vec(),
            read: reading("w", 0.0),
            rows: 30,
            cols: 100,
        })
        .await
        .unwrap()
        .into_inner()
        .snapshot
        .unwrap();
    assert_eq!((resized.rows, resized.cols), (30, 100));
    let out = read_until(&d, &id, "r", "30 100").await;
    assert!(out.contains("30 100"), "{out:?}");

    // A program that draws at positions: clear, then text at row 5, column 10 (1-based).
    write(&d, &id, "clear; printf '\\033[5;10HDRAWN-HERE'; sleep 30\n").await;
    let mut screen = None;
    for _ in 0..20 {
        let snap = client(&d)
            .await
            .read(pb::ReadSessionRequest {
                session_id: id.clone(),
                read: Some(pb::ReadOptions {
                    wait_seconds: Some(0.5),
                    screen: true,
                    reader_id: "screen".into(),
                    ..Default::default()
                }),
            })
            .await
            .unwrap()
            .into_inner()
            .snapshot
            .unwrap();
        let s = snap.screen.unwrap();
        if s.rows.get(4).is_some_and(|r| r.contains("DRAWN-HERE")) {
            screen = Some(s);
            break;
        }
    }
    let screen = screen.expect("the screen shows the drawing");
    assert_eq!(screen.rows.len(), 30);
    assert_eq!(
        screen.rows[4].find("DRAWN-HERE"),
        Some(9),
        "{:?}",
        screen.rows[4]
    );
    assert_eq!((screen.cursor_row, screen.cursor_col), (4, 19));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_stop_kills_at_once() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let id = open(&d, None, false)
        .await
        .unwrap()
        .snapshot
        .unwrap()
        .session_id;
    let marker = unique_marker("forced");
    // Deaf to SIGTERM and SIGHUP: only SIGKILL ends it.
    write(
        &d,
        &id,
        &format!("export {marker}; trap '' TERM HUP; sleep 300\n"),
    )
    .await;
    assert!(
        wait_until_async(Duration::from_secs(10), || {
            !pids_with_env_marker(&marker).is_empty()
        })
        .await,
        "the job did not start"
    );
    let started = std::time::Instant::now();
    let stopped = client(&d)
        .await
        .stop(pb::StopSessionRequest {
            session_id: id,
            force: true,
            wait_seconds: Some(10.0),
            read: reading("s", 0.0),
        })
        .await
        .unwrap()
        .into_inner();
    let took = started.elapsed();
    assert_eq!(stopped.termination_signal.as_deref(), Some("SIGKILL"));
    let snap = stopped.snapshot.unwrap();
    assert_eq!(snap.exit_reason.as_deref(), Some("killed"), "{snap:?}");
    assert!(took < Duration::from_secs(2), "a forced stop took {took:?}");
    assert!(
        wait_until_async(Duration::from_secs(5), || pids_with_env_marker(&marker)
            .is_empty())
        .await,
        "left: {:?}",
        pids_with_env_marker(&marker)
    );
}

/// Many sessions started and force-stopped at once: every save of the registry succeeds, and the
/// file on disk ends as the registry does (a save with an older state never lands last).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_starts_and_stops_leave_the_registry_file_as_the_registry() {
    const SESSIONS: usize = 24;
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let channel = d.channel().await;
    let mut opens = tokio::task::JoinSet::new();
    for _ in 0..SESSIONS {
        let mut c = SessionsClient::new(channel.clone());
        opens.spawn(async move {
            c.open(pb::OpenSessionRequest {
                connection: Some(connection()),
                observer_mode: Some("transcript".into()),
                read: reading("test", 0.0),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .snapshot
            .unwrap()
            .session_id
        });
    }
    let ids = opens.join_all().await;
    let mut stops = tokio::task::JoinSet::new();
    for id in ids {
        let mut c = SessionsClient::new(channel.clone());
        stops.spawn(async move {
            c.stop(pb::StopSessionRequest {
                session_id: id,
                force: true,
                wait_seconds: Some(20.0),
                read: reading("s", 0.0),
            })
            .await
            .unwrap()
            .into_inner()
        });
    }
    for stopped in stops.join_all().await {
        assert!(!stopped.snapshot.unwrap().running);
    }

    let listed = client(&d)
        .await
        .list(pb::ListSessionsRequest {
            include_exited: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .sessions;
    let file = d.dir.join("state/sessions.json");
    let on_disk: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let mut disk: Vec<(String, Option<String>)> = on_disk
        .iter()
        .map(|r| {
            let id = r["id"].as_str().unwrap().to_owned();
            (id, r["exit_reason"].as_str().map(str::to_owned))
        })
        .collect();
    let mut live: Vec<(String, Option<String>)> = listed
        .iter()
        .map(|s| (s.session_id.clone(), s.exit_reason.clone()))
        .collect();
    disk.sort();
    live.sort();
    assert_eq!(disk.len(), SESSIONS);
    assert_eq!(disk, live, "the file on disk differs from the registry");
    assert!(
        disk.iter()
            .all(|(_, reason)| reason.as_deref() == Some("killed")),
        "{disk:?}"
    );
    let log = d.log();
    assert!(
        !log.contains("cannot write the session registry"),
        "{}",
        log.lines()
            .filter(|l| l.contains("session registry"))
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A state directory for a daemon (0700), with the folder it lives in.
fn private_state_dir() -> (crate::support::Scratch, std::path::PathBuf) {
    let state = crate::support::Scratch::new("state");
    let dir = state.join("s");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    (state, dir)
}

/// Now, in milliseconds since the Unix epoch (as the session registry records times).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Transcripts are kept as long as their sessions are listed: at start-up, a session that ended
/// longer ago than an hour goes from the registry with its transcript folder, and so does an old
/// folder no registry lists; a recent one stays, readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_transcripts_go_at_start_up_and_recent_ones_stay() {
    use crate::support::daemon::DaemonOptions;
    let (_state, dir) = private_state_dir();
    let now_ms = now_ms();
    let two_hours = Duration::from_secs(7200);
    let folder = |id: &str, age: Duration| {
        let d = dir.join(id);
        std::fs::create_dir(&d).unwrap();
        let f = std::fs::File::create(d.join("transcript.log")).unwrap();
        std::io::Write::write_all(&mut &f, format!("output of {id}\n").as_bytes()).unwrap();
        let when = std::time::SystemTime::now() - age;
        f.set_modified(when).unwrap();
        std::fs::File::open(&d).unwrap().set_modified(when).unwrap();
        d
    };
    let (expired, recent, unlisted) = ("00000000000000e1", "00000000000000e2", "00000000000000e3");
    let expired_dir = folder(expired, two_hours);
    let recent_dir = folder(recent, Duration::from_secs(60));
    let unlisted_dir = folder(unlisted, two_hours);
    let record = |id: &str, ended_ms: u64| {
        serde_json::json!({
            "id": id, "name": null, "target": "web", "auto_close": false,
            "started_ms": ended_ms - 1000, "ended_ms": ended_ms, "exit_code": 0, "signal": null,
            "exit_reason": "clean-exit",
            "transcript_path": dir.join(id).join("transcript.log"),
        })
    };
    let records = serde_json::json!([
        record(expired, now_ms - two_hours.as_millis() as u64),
        record(recent, now_ms - 60_000),
    ]);
    std::fs::write(dir.join("sessions.json"), records.to_string()).unwrap();

    let d = Daemon::start_with(DaemonOptions {
        state_dir: Some(dir.clone()),
        ..Default::default()
    })
    .unwrap();
    let listed: Vec<String> = client(&d)
        .await
        .list(pb::ListSessionsRequest {
            include_exited: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .sessions
        .into_iter()
        .map(|s| s.session_id)
        .collect();
    assert_eq!(listed, [recent]);
    assert!(
        !expired_dir.exists(),
        "an expired session's transcript stayed"
    );
    assert!(!unlisted_dir.exists(), "an old unlisted transcript stayed");
    assert!(recent_dir.join("transcript.log").exists());
    let out = read_until(&d, recent, "r", "output of").await;
    assert!(out.contains(&format!("output of {recent}")), "{out:?}");
}

/// Session names that read the same once made safe for tmux (`a.b`, `a-b`, `a;b`), and one with
/// nothing ASCII, each get a tmux observer of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tmux_observers_of_look_alike_names_do_not_collide() {
    let sshd = Sshd::start();
    let tmux_dir = crate::support::Scratch::new("tmux");
    let d = Daemon::start_with(crate::support::daemon::DaemonOptions {
        ssh_config: Some(sshd.ssh_config()),
        env: vec![("TMUX_TMPDIR".into(), tmux_dir.path.display().to_string())],
        ..Default::default()
    })
    .unwrap();
    let mut names = Vec::new();
    for name in ["a.b", "a-b", "a;b", "構築"] {
        let snap = client(&d)
            .await
            .open(pb::OpenSessionRequest {
                connection: Some(connection()),
                session_name: Some(name.into()),
                observer_mode: Some("tmux".into()),
                read: reading("t", 0.0),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .snapshot
            .unwrap();
        let observer = snap.observer.unwrap();
        assert!(
            observer.tmux_started && observer.mode == "tmux",
            "{name}: {observer:?}"
        );
        assert!(!observer.tmux_session_name.ends_with('-'), "{observer:?}");
        names.push(observer.tmux_session_name);
    }
    let distinct: std::collections::BTreeSet<&String> = names.iter().collect();
    assert_eq!(distinct.len(), names.len(), "{names:?}");
}

/// A restarted daemon shows an ended session's last output from its transcript: it reads that
/// tail only, not the whole file. Two 48 MiB transcript parts once cost it 96 MiB at start-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_sessions_big_transcript_is_not_read_whole_at_start_up() {
    use crate::support::daemon::DaemonOptions;
    let (_state, dir) = private_state_dir();
    let id = "00000000000000b1";
    let folder = dir.join(id);
    std::fs::create_dir(&folder).unwrap();
    let part = vec![b'x'; 48 << 20];
    std::fs::write(folder.join("transcript.log.1"), &part).unwrap();
    let mut current = part;
    current.extend_from_slice(b"\nthe last line\n");
    std::fs::write(folder.join("transcript.log"), &current).unwrap();
    let now_ms = now_ms();
    let records = serde_json::json!([{
        "id": id, "name": null, "target": "web", "auto_close": false,
        "started_ms": now_ms - 2000, "ended_ms": now_ms - 1000, "exit_code": 0, "signal": null,
        "exit_reason": "clean-exit", "transcript_path": folder.join("transcript.log"),
    }]);
    std::fs::write(dir.join("sessions.json"), records.to_string()).unwrap();

    let d = Daemon::start_with(DaemonOptions {
        state_dir: Some(dir.clone()),
        ..Default::default()
    })
    .unwrap();
    let out = read_until(&d, id, "r", "the last line").await;
    assert!(
        out.ends_with("the last line\n"),
        "{:?}",
        &out[out.len() - 40..]
    );
    // The tail kept is 4 MiB; the whole transcript is 96 MiB.
    let peak = crate::support::peak_memory(d.pid());
    assert!(peak < 40 << 20, "the daemon peaked at {peak} bytes");
}
