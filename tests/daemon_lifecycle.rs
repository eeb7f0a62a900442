//! The daemon as a process: socket and directory modes, refusal of other users, one daemon per
//! socket, stale socket recovery, systemd socket activation, and a clean exit on SIGTERM.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::daemon::{Daemon, DaemonOptions, connect, run_request};
use crate::support::sshd::Sshd;
use crate::support::{ChildGuard, Scratch, daemon_bin, shim_bin, wait_until};

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_is_0600_in_a_0700_directory() {
    let d = Daemon::start_with(DaemonOptions::default()).unwrap();
    assert_eq!(mode(d.socket.parent().unwrap()), 0o700);
    assert_eq!(mode(&d.socket), 0o600);
    let status = d.status().await;
    assert_eq!(status.protocol, ssh_mcp_core::protocol::PROTOCOL_VERSION);
    assert_eq!(status.pid, d.pid());
}

#[test]
fn group_or_world_writable_directory_is_refused_with_the_fix() {
    for m in [0o777, 0o770, 0o755] {
        let scratch = Scratch::new("open");
        let dir = scratch.join("run");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(m)).unwrap();
        let err = Daemon::start_with(DaemonOptions {
            socket: Some(dir.join("d.sock")),
            ..Default::default()
        })
        .err()
        .expect("the daemon must refuse the directory");
        assert!(err.contains("chmod 700"), "mode {m:o}: {err}");
        assert!(!dir.join("d.sock").exists());
    }
}

#[test]
fn too_long_socket_path_is_refused_with_the_fix() {
    let scratch = Scratch::new("long");
    let long = scratch.join(&"x".repeat(110));
    let out = Command::new(daemon_bin())
        .arg("--socket")
        .arg(long.join("d.sock"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SSH_MCP_SOCKET"), "{err}");
}

#[test]
fn another_user_is_refused_even_when_modes_allow_it() {
    let d = Daemon::start_with(DaemonOptions::default()).unwrap();
    // Open the way as far as file modes go: the only fence left is the peer-uid check.
    for dir in [d.dir.path.as_path(), d.socket.parent().unwrap()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    std::fs::set_permissions(&d.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(shim_bin())
        .args(["daemon", "status"])
        .env("SSH_MCP_SOCKET", &d.socket)
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "nobody got an answer: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("not running"), "{text}");
    assert!(wait_until(Duration::from_secs(5), || d
        .log()
        .contains("refused a connection from another user")));
    std::fs::set_permissions(&d.socket, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn a_second_daemon_on_the_same_socket_exits_quietly() {
    let d = Daemon::start_with(DaemonOptions::default()).unwrap();
    let out = Command::new(daemon_bin())
        .arg("--socket")
        .arg(&d.socket)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already serves"));
    assert!(d.socket.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_socket_is_recovered() {
    let scratch = Scratch::new("stale");
    let socket = scratch.join("run/d.sock");
    let mut first = Daemon::start_with(DaemonOptions {
        socket: Some(socket.clone()),
        ..Default::default()
    })
    .unwrap();
    let mut child = first.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        std::fs::symlink_metadata(&socket)
            .unwrap()
            .file_type()
            .is_socket(),
        "the socket file stays behind"
    );
    let second = Daemon::start_with(DaemonOptions {
        socket: Some(socket.clone()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(second.status().await.pid, second.pid());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_cleanly_and_removes_the_socket() {
    let mut d = Daemon::start_with(DaemonOptions::default()).unwrap();
    let socket = d.socket.clone();
    let status = d.terminate();
    assert!(status.success(), "{status}");
    assert!(!socket.exists());
    assert!(d.log().contains("ssh-mcpd stopped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_activation_serves_and_stops_cleanly() {
    let sshd = Sshd::start();
    let scratch = Scratch::new("sa");
    let run = scratch.join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    let socket = run.join("d.sock");
    let mut child = ChildGuard(
        Command::new("systemd-socket-activate")
            .arg("-l")
            .arg(&socket)
            .arg(daemon_bin())
            .arg("--ssh-config")
            .arg(sshd.ssh_config())
            .arg("--state-dir")
            .arg(scratch.join("state"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(scratch.join("log")).unwrap())
            .spawn()
            .expect("systemd-socket-activate (apt-get install systemd)"),
    );
    // The socket file appears at bind(), a moment before listen(): wait until it accepts.
    assert!(wait_until(Duration::from_secs(10), || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
    }));
    // The first connection starts the daemon, as systemd would.
    let channel = connect(&socket)
        .await
        .expect("connect through the activated socket");
    let status = ssh_mcp_core::pb::control_client::ControlClient::new(channel.clone())
        .status(ssh_mcp_core::pb::StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(status.socket_activated);
    assert_eq!(
        status.pid,
        child.id(),
        "systemd-socket-activate execs the daemon in place"
    );
    let mut stream = ssh_mcp_core::pb::exec_client::ExecClient::new(channel)
        .run(run_request("echo activated"))
        .await
        .unwrap()
        .into_inner();
    let mut out = None;
    while let Some(ev) = stream.message().await.unwrap() {
        if let Some(ssh_mcp_core::pb::run_event::Event::Finished(f)) = ev.event {
            out = Some(f.stdout);
        }
    }
    assert_eq!(out.as_deref(), Some(&b"activated\n"[..]));
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    assert!(wait_until(Duration::from_secs(15), || matches!(
        child.try_wait(),
        Ok(Some(_))
    )));
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit}");
    let control_dir = run.join("cm").display().to_string();
    assert!(
        crate::support::master_pids(&control_dir).is_empty(),
        "control master left behind"
    );
}

#[test]
fn systemd_units_verify_and_listen_where_the_shim_looks() {
    let scratch = Scratch::new("units");
    let runtime = scratch.join("xdg");
    std::fs::create_dir(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    let units = scratch.join("units");
    std::fs::create_dir(&units).unwrap();
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for name in ["ssh-mcpd.socket", "ssh-mcpd.service"] {
        let text = std::fs::read_to_string(root.join("systemd").join(name)).unwrap();
        let text = text.replace(
            "%h/.cargo/bin/ssh-mcpd",
            &daemon_bin().display().to_string(),
        );
        std::fs::write(units.join(name), text).unwrap();
    }
    let out = Command::new("systemd-analyze")
        .args(["verify", "--user"])
        .arg(units.join("ssh-mcpd.socket"))
        .arg(units.join("ssh-mcpd.service"))
        .env("XDG_RUNTIME_DIR", &runtime)
        .output()
        .expect("systemd-analyze (apt-get install systemd)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.trim().is_empty(),
        "systemd-analyze verify: {text}"
    );
    // The socket unit listens on %t/ssh-mcp/ssh-mcpd.sock: the path the shim derives from
    // XDG_RUNTIME_DIR, and from /run/user/<uid> when the variable was stripped.
    let socket_unit = std::fs::read_to_string(units.join("ssh-mcpd.socket")).unwrap();
    assert!(socket_unit.contains("ListenStream=%t/ssh-mcp/ssh-mcpd.sock"));
    let derived = ssh_mcp_core::paths::socket_path_with(
        &|k| (k == "XDG_RUNTIME_DIR").then(|| runtime.clone().into_os_string()),
        ssh_mcp_core::paths::current_uid(),
        std::path::Path::new("/nonexistent"),
    )
    .unwrap();
    assert_eq!(derived, runtime.join("ssh-mcp/ssh-mcpd.sock"));
    let service = std::fs::read_to_string(units.join("ssh-mcpd.service")).unwrap();
    assert!(service.contains("Type=notify"));
}

/// Two daemons whose sockets share a directory (a socket-activated one beside one a shim
/// started) also share its `cm/` directory; each keeps its own masters there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_in_one_runtime_directory_keep_their_own_masters() {
    let sshd = Sshd::start();
    let first = Daemon::start(&sshd.ssh_config());
    let second = Daemon::start_with(DaemonOptions {
        ssh_config: Some(sshd.ssh_config()),
        socket: Some(first.socket.with_file_name("other.sock")),
        ..Default::default()
    })
    .unwrap();
    assert_ne!(first.pid(), second.pid());
    let cm = first.socket.parent().unwrap().join("cm");
    let sockets = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&cm)
            .unwrap()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_socket()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let f = first.exec(run_request("echo one")).await.unwrap();
    assert_eq!(f.stdout, b"one\n");
    let f = second.exec(run_request("echo two")).await.unwrap();
    assert_eq!(f.stdout, b"two\n");
    let names = sockets();
    assert_eq!(names.len(), 2, "{names:?}");
    for (d, name) in [(&first, &names), (&second, &names)] {
        let tag = format!("-{}-", d.pid());
        assert_eq!(
            name.iter().filter(|n| n.contains(&tag)).count(),
            1,
            "{name:?}"
        );
    }
    // Each daemon's next call reuses its own master, which the other left alone.
    for d in [&first, &second] {
        let f = d.exec(run_request("echo again")).await.unwrap();
        assert_eq!(f.stdout, b"again\n");
        assert!(f.reused_connection);
        assert_eq!(d.status().await.control_masters, 1);
    }
    assert_eq!(sockets(), names);
}

/// CPU time (user + system, in clock ticks) the process has used.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Out of file descriptors, the daemon pauses accepting instead of spinning on EMFILE, and
/// serves again as soon as descriptors are free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_descriptors_pauses_accepting_and_recovers() {
    let d = Daemon::start_with(DaemonOptions {
        open_files_limit: Some(64),
        ..Default::default()
    })
    .unwrap();
    let pid = d.pid();
    // Idle connections until accept fails for want of descriptors.
    let mut held = Vec::new();
    let exhausted = wait_until(Duration::from_secs(20), || {
        for _ in 0..8 {
            if let Ok(s) = std::os::unix::net::UnixStream::connect(&d.socket) {
                held.push(s);
            }
        }
        d.log().contains("Too many open files")
    });
    assert!(
        exhausted,
        "accept never failed with {} connections held",
        held.len()
    );
    // While it lasts, the daemon waits rather than burns a core (a spinning accept loop uses
    // about 100 ticks a second).
    let before = cpu_ticks(pid);
    let window = std::time::Instant::now();
    // A measuring window, not a wait for something: CPU time is compared across one second.
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(pid) - before;
    assert!(
        used < 30,
        "the daemon used {used} ticks in {:?} while out of descriptors",
        window.elapsed()
    );
    drop(held);
    let status = tokio::time::timeout(Duration::from_secs(10), d.status())
        .await
        .expect("the daemon answers again once descriptors are free");
    assert_eq!(status.pid, pid);
    assert!(d.log().contains("accepting connections again"));
}
