//! Port forwards owned by the daemon, against the real sshd: real traffic through local, remote
//! and dynamic (SOCKS) forwards, the port closed after a stop, a busy port refused at once with
//! nothing listed, a lost connection listed as not running with its reason, and thousands of
//! refused connections that leave the forward working.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use ssh_mcp_core::pb::{self, forwards_client::ForwardsClient};
use tonic::transport::Channel;

use crate::support::daemon::Daemon;
use crate::support::sshd::Sshd;
use crate::support::{children_of, wait_until_async};

/// An echo server on a free loopback port, one thread per connection; returns the port.
fn echo_server() -> u16 {
    echo_server_on(TcpListener::bind("127.0.0.1:0").unwrap())
}

fn echo_server_on(listener: TcpListener) -> u16 {
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || stream.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

/// A loopback port nothing listens on (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends `text` over `stream` and reads the same number of bytes back.
fn round_trip(stream: &mut TcpStream, text: &str) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(text.as_bytes()).unwrap();
    let mut back = vec![0u8; text.len()];
    stream.read_exact(&mut back).unwrap();
    String::from_utf8(back).unwrap()
}

fn through(port: u16, text: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("the forward accepts");
    round_trip(&mut s, text)
}

async fn client(d: &Daemon) -> ForwardsClient<Channel> {
    ForwardsClient::new(d.channel().await)
}

fn request(direction: &str, local_port: u16, remote_port: Option<u16>) -> pb::OpenForwardRequest {
    let (user, _) = crate::support::accounts::login_shell_account("bash");
    pb::OpenForwardRequest {
        connection: Some(pb::Connection {
            target: format!("{user}@testhost"),
            ..Default::default()
        }),
        direction: direction.into(),
        local_port: Some(u32::from(local_port)),
        remote_host: remote_port.map(|_| "127.0.0.1".into()),
        remote_port: remote_port.map(u32::from),
        ..Default::default()
    }
}

async fn open(
    d: &Daemon,
    req: pb::OpenForwardRequest,
) -> Result<pb::ForwardSnapshot, tonic::Status> {
    let reply = client(d).await.open(req).await?.into_inner();
    Ok(reply.forward.expect("a forward"))
}

async fn list(d: &Daemon, include_stopped: bool) -> Vec<pb::ForwardSnapshot> {
    client(d)
        .await
        .list(pb::ListForwardsRequest {
            include_stopped,
            target: None,
        })
        .await
        .unwrap()
        .into_inner()
        .forwards
}

async fn stop(d: &Daemon, id: &str) -> pb::StopForwardReply {
    client(d)
        .await
        .stop(pb::StopForwardRequest {
            forward_id: id.into(),
        })
        .await
        .unwrap()
        .into_inner()
}

fn refused(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_err()
}

/// The sshd processes serving the connections `sshd` accepted: each connection's monitor and its
/// unprivileged child, which holds the socket too.
fn server_side(sshd: &Sshd) -> Vec<u32> {
    let mut pids = children_of(sshd.pid());
    let mut i = 0;
    while i < pids.len() {
        pids.extend(children_of(pids[i]));
        i += 1;
    }
    assert!(!pids.is_empty(), "no sshd process serves the connection");
    pids
}

/// Awaits forward `id` being listed as not running, until `limit` after `since`; returns it and
/// when that was seen.
async fn ended_within(
    d: &Daemon,
    id: &str,
    since: Instant,
    limit: Duration,
) -> Option<(pb::ForwardSnapshot, Duration)> {
    let left = limit.saturating_sub(since.elapsed());
    crate::support::eventually(left, || async {
        list(d, true)
            .await
            .into_iter()
            .find(|s| s.forward_id == id && !s.running)
            .map(|s| (s, since.elapsed()))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_remote_and_dynamic_forwards_carry_traffic_and_close_on_stop() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let echo = echo_server();

    // local: listen here, connect from the host.
    let l_port = free_port();
    let local = open(&d, request("local", l_port, Some(echo)))
        .await
        .unwrap();
    assert!(local.running);
    assert_eq!(local.listen, format!("127.0.0.1:{l_port}"));
    assert_eq!(through(l_port, "through local\n"), "through local\n");

    // remote: the host listens, connections come back here.
    let r_port = free_port();
    let remote = open(&d, request("remote", r_port, Some(echo)))
        .await
        .unwrap();
    assert_eq!(remote.direction, "remote");
    assert_eq!(through(r_port, "through remote\n"), "through remote\n");

    // dynamic: SOCKS5 here; the host connects where the client says.
    let s_port = free_port();
    let dynamic = open(&d, request("dynamic", s_port, None)).await.unwrap();
    assert_eq!(dynamic.connect, "socks");
    let mut s = TcpStream::connect(("127.0.0.1", s_port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&[5, 1, 0]).unwrap();
    let mut hello = [0u8; 2];
    s.read_exact(&mut hello).unwrap();
    assert_eq!(hello, [5, 0], "SOCKS5 without authentication");
    let [hi, lo] = echo.to_be_bytes();
    s.write_all(&[5, 1, 0, 1, 127, 0, 0, 1, hi, lo]).unwrap();
    let mut connected = [0u8; 10];
    s.read_exact(&mut connected).unwrap();
    assert_eq!(connected[..2], [5, 0], "the SOCKS connect succeeded");
    assert_eq!(round_trip(&mut s, "through socks\n"), "through socks\n");

    assert_eq!(list(&d, false).await.len(), 3);
    for (f, port) in [(&local, l_port), (&remote, r_port), (&dynamic, s_port)] {
        let stopped = stop(&d, &f.forward_id).await;
        assert!(stopped.was_running);
        let snap = stopped.forward.unwrap();
        assert!(!snap.running);
        assert_eq!(snap.ended_reason.as_deref(), Some("stopped"));
        // The listener is closed by the time stop returns (remote: once the server has it).
        assert!(
            wait_until_async(Duration::from_secs(5), || refused(port)).await,
            "{} still listens on {port} after the stop",
            f.direction
        );
    }
    assert!(list(&d, false).await.is_empty());
    assert_eq!(list(&d, true).await.len(), 3);
    // Stopping again says it was not running; an unknown id is an error.
    assert!(!stop(&d, &local.forward_id).await.was_running);
    let unknown = client(&d)
        .await
        .stop(pb::StopForwardRequest {
            forward_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    assert!(unknown.message().contains("Unknown forward_id 'nope'"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_busy_port_is_refused_at_once_and_nothing_is_listed() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let echo = echo_server();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let started = Instant::now();
    let e = open(&d, request("local", port, Some(echo)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
    assert!(
        e.message().contains(&format!("127.0.0.1:{port}")) && e.message().contains("in use"),
        "{}",
        e.message()
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        list(&d, true).await.is_empty(),
        "a refused forward is listed"
    );

    // Two forwards may not ask for one port; a name makes asking again idempotent.
    let port = free_port();
    let mut named = request("local", port, Some(echo));
    named.forward_name = Some("db".into());
    let first = client(&d)
        .await
        .open(named.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(first.created);
    let again = client(&d)
        .await
        .open(named.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(!again.created);
    assert_eq!(
        again.forward.unwrap().forward_id,
        first.forward.as_ref().unwrap().forward_id
    );
    let clash = open(&d, request("dynamic", port, None)).await.unwrap_err();
    assert!(
        clash.message().contains("already taken"),
        "{}",
        clash.message()
    );
    named.remote_port = Some(u32::from(free_port()));
    let renamed = open(&d, named).await.unwrap_err();
    assert!(
        renamed.message().contains("named 'db'"),
        "{}",
        renamed.message()
    );
    assert_eq!(list(&d, true).await.len(), 1);

    // A wide bind must be asked for.
    let mut wide = request("local", free_port(), Some(echo));
    wide.bind_address = Some("0.0.0.0".into());
    let e = open(&d, wide.clone()).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    wide.allow_non_loopback = true;
    let f = open(&d, wide).await.unwrap();
    assert!(f.warning.unwrap().contains("other machines"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_connection_shows_the_forward_as_not_running_with_the_reason() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let echo = echo_server();
    let port = free_port();
    let f = open(&d, request("local", port, Some(echo))).await.unwrap();
    assert_eq!(through(port, "before\n"), "before\n");
    // Kill the server side of every connection: sshd's per-connection processes, the monitor
    // and its unprivileged child, which holds the socket too.
    let killed_at = Instant::now();
    let server_side = server_side(&sshd);
    for pid in server_side {
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    let (ended, _) = ended_within(&d, &f.forward_id, killed_at, Duration::from_secs(20))
        .await
        .expect("the forward is still listed as running 20 s after its connection died");
    let reason = ended.ended_reason.unwrap();
    assert!(reason.starts_with("connection-lost"), "{reason}");
    assert!(list(&d, false).await.is_empty());
    assert!(
        wait_until_async(Duration::from_secs(5), || refused(port)).await,
        "the port still accepts after the connection died"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousands_of_refused_connections_leave_the_forward_working() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let far = free_port(); // nothing listens there yet
    let port = free_port();
    let f = open(&d, request("local", port, Some(far))).await.unwrap();
    for n in 0..2000 {
        let mut s = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("connection {n} was not accepted: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(b"x");
        let mut buf = [0u8; 16];
        // The master closes the connection when the far end refuses the channel.
        assert!(
            matches!(s.read(&mut buf), Ok(0) | Err(_)),
            "connection {n} got data"
        );
        let _ = s.shutdown(Shutdown::Both);
    }
    echo_server_on(TcpListener::bind(("127.0.0.1", far)).unwrap());
    assert_eq!(through(port, "still here\n"), "still here\n");
    assert!(
        list(&d, false)
            .await
            .iter()
            .any(|s| s.forward_id == f.forward_id)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forwards_stop_with_the_daemon() {
    let sshd = Sshd::start();
    let mut d = Daemon::start(&sshd.ssh_config());
    let echo = echo_server();
    let port = free_port();
    open(&d, request("local", port, Some(echo))).await.unwrap();
    assert_eq!(through(port, "up\n"), "up\n");
    assert!(d.terminate().success());
    assert!(refused(port), "the port outlived the daemon");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_master_with_a_forward_is_never_closed_as_idle() {
    use crate::support::daemon::DaemonOptions;
    let sshd = Sshd::start();
    let d = Daemon::start_with(DaemonOptions {
        ssh_config: Some(sshd.ssh_config()),
        extra_args: vec!["--control-persist".into(), "1".into()],
        ..Default::default()
    })
    .unwrap();
    // The premise: with nothing on it, a master closes after the persist time.
    let (user, _) = crate::support::accounts::login_shell_account("bash");
    let mut run = crate::support::daemon::run_request("true");
    run.connection.as_mut().unwrap().target = format!("{user}@testhost");
    d.exec(run).await.unwrap();
    let pid = d.pid();
    assert!(
        wait_until_async(Duration::from_secs(10), || crate::support::masters_of(pid)
            .is_empty())
        .await,
        "an idle master was not closed"
    );
    let echo = echo_server();
    let port = free_port();
    open(&d, request("local", port, Some(echo))).await.unwrap();
    let held = crate::support::masters_of(pid);
    assert_eq!(held.len(), 1);
    // A witness: a master of another connection, used once after the forward opened. Once it
    // has been closed as idle, the forward's master has been checked past its persist time too.
    let (witness_user, _) = crate::support::accounts::login_shell_account("dash");
    let mut run = crate::support::daemon::run_request("true");
    run.connection.as_mut().unwrap().target = format!("{witness_user}@testhost");
    d.exec(run).await.unwrap();
    assert_eq!(crate::support::masters_of(pid).len(), 2);
    assert!(
        wait_until_async(Duration::from_secs(10), || crate::support::masters_of(pid)
            .len()
            == 1)
        .await,
        "the witness master was not closed as idle"
    );
    assert_eq!(
        crate::support::masters_of(pid),
        held,
        "the forward's master was closed"
    );
    assert_eq!(through(port, "after idling\n"), "after idling\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ipv6_bind_listens_there_and_is_shown_in_brackets() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let echo = echo_server();
    let port = {
        let l = TcpListener::bind("[::1]:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut req = request("local", port, Some(echo));
    req.bind_address = Some("::1".into());
    let f = open(&d, req).await.unwrap();
    assert_eq!(f.listen, format!("[::1]:{port}"));
    assert_eq!(f.bind_address, "::1");
    assert!(f.warning.is_none(), "::1 is loopback");
    let mut s = TcpStream::connect(("::1", port)).expect("the forward listens on ::1");
    assert_eq!(round_trip(&mut s, "v6\n"), "v6\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_host_ends_the_forward_within_twenty_seconds() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let echo = echo_server();
    let port = free_port();
    let f = open(&d, request("local", port, Some(echo))).await.unwrap();
    assert_eq!(through(port, "before\n"), "before\n");
    // Freeze the server side of the connection: the link stays up but nothing answers, as when
    // a host hangs or a network drops packets. The master's keepalives notice.
    let server_side = server_side(&sshd);
    for &pid in &server_side {
        unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
    }
    let frozen_at = Instant::now();
    let ended = ended_within(&d, &f.forward_id, frozen_at, Duration::from_secs(20)).await;
    for &pid in &server_side {
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    let (ended, after) =
        ended.expect("the forward is still listed as running 20 s after its host went silent");
    let reason = ended.ended_reason.unwrap();
    assert!(reason.starts_with("connection-lost"), "{reason}");
    eprintln!("a silent host ended the forward after {after:?}");
}

/// A remote forward's address is what sshd was asked for, and said to be so: asked for
/// 127.0.0.2, the test sshd (GatewayPorts no, its default) binds loopback instead, so the result
/// must not claim 127.0.0.2. Local forwards bind as asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_remote_forwards_address_is_reported_as_requested() {
    let sshd = Sshd::start();
    let d = Daemon::start(&sshd.ssh_config());
    let echo = echo_server();
    let port = free_port();
    let mut req = request("remote", port, Some(echo));
    req.bind_address = Some("127.0.0.2".into());
    let remote = open(&d, req).await.unwrap();
    assert_eq!(remote.listen, format!("127.0.0.2:{port}"));
    assert!(remote.listen_requested, "{remote:?}");
    assert!(
        remote.warning.is_none(),
        "loopback was asked for: {remote:?}"
    );
    // What sshd did: loopback, not the address asked for.
    assert_eq!(through(port, "on loopback\n"), "on loopback\n");
    assert!(
        TcpStream::connect(("127.0.0.2", port)).is_err(),
        "sshd bound 127.0.0.2 after all"
    );
    let listed = list(&d, false).await;
    assert!(listed.iter().all(|f| f.listen_requested), "{listed:?}");

    let local = open(&d, request("local", free_port(), Some(echo)))
        .await
        .unwrap();
    assert!(!local.listen_requested, "{local:?}");
}
