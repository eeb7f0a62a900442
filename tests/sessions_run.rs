//! Sessions.Run, running one command in a session's shell to completion, for accounts whose
//! login shells are bash, dash (as sh), zsh and fish, against the real sshd: exact output without
//! the echoed line, prompt or marks, exit codes 0 and non-zero, multi-line commands, a syntax
//! error, state kept between runs, a timeout that leaves the command running and the session
//! usable (and waiting for it again), input to a command that reads, an interrupt, a shell
//! function named `printf`, and `exit`. tcsh sessions are refused with a clear error.

use std::time::Duration;

use ssh_mcp_core::pb::{self, sessions_client::SessionsClient};
use tonic::transport::Channel;

use crate::support::accounts::login_shell_account;
use crate::support::daemon::Daemon;
use crate::support::sshd::Sshd;

struct Shell {
    user: String,
    daemon: Daemon,
    _sshd: Sshd,
}

impl Shell {
    async fn start(shell: &str) -> Self {
        let (user, _) = login_shell_account(shell);
        let sshd = Sshd::start();
        let daemon = Daemon::start(&sshd.ssh_config());
        Self {
            user,
            daemon,
            _sshd: sshd,
        }
    }

    async fn client(&self) -> SessionsClient<Channel> {
        SessionsClient::new(self.daemon.channel().await)
    }

    async fn open(&self) -> String {
        let reply = self
            .client()
            .await
            .open(pb::OpenSessionRequest {
                connection: Some(pb::Connection {
                    target: format!("{}@testhost", self.user),
                    ..Default::default()
                }),
                observer_mode: Some("transcript".into()),
                read: Some(pb::ReadOptions {
                    wait_seconds: Some(1.0),
                    reader_id: "opener".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("{}: open: {e}", self.user))
            .into_inner();
        reply.snapshot.unwrap().session_id
    }

    async fn try_run(
        &self,
        id: &str,
        command: &str,
        timeout: f64,
    ) -> Result<pb::RunInSessionReply, tonic::Status> {
        self.run_with(pb::RunInSessionRequest {
            session_id: id.into(),
            command: command.into(),
            timeout_seconds: Some(timeout),
            ..Default::default()
        })
        .await
    }

    async fn run_with(
        &self,
        req: pb::RunInSessionRequest,
    ) -> Result<pb::RunInSessionReply, tonic::Status> {
        self.client()
            .await
            .run(req)
            .await
            .map(tonic::Response::into_inner)
    }

    async fn run(&self, id: &str, command: &str) -> pb::RunInSessionReply {
        self.try_run(id, command, 20.0)
            .await
            .unwrap_or_else(|e| panic!("{}: {command:?}: {e}", self.user))
    }

    /// Everything the session's output ring holds, as a reader sees it.
    async fn everything(&self, id: &str) -> String {
        let reply = self
            .client()
            .await
            .read(pb::ReadSessionRequest {
                session_id: id.into(),
                read: Some(pb::ReadOptions {
                    wait_seconds: Some(0.0),
                    offset: Some(0),
                    max_output_chars: Some(1_048_576),
                    ..Default::default()
                }),
            })
            .await
            .unwrap()
            .into_inner();
        String::from_utf8_lossy(&reply.snapshot.unwrap().output).into_owned()
    }
}

fn text(r: &pb::RunInSessionReply) -> String {
    String::from_utf8_lossy(&r.output).into_owned()
}

/// Everything checked for one login shell.
async fn run_works_under(shell: &str) {
    let s = Shell::start(shell).await;
    let who = s.user.clone();
    let id = s.open().await;

    // Exit 0, with the output alone, line ends as `\n`.
    let r = s.run(&id, "printf 'a\\nb\\n'").await;
    assert_eq!(
        (text(&r).as_str(), r.exit_code, r.started, r.still_running),
        ("a\nb\n", Some(0), true, false),
        "{who}"
    );
    assert_eq!(r.output_bytes, 6, "{who}: a\\r\\nb\\r\\n on the terminal");
    assert!(r.snapshot.as_ref().is_some_and(|s| s.running), "{who}");

    // A non-zero status, stderr (the terminal merges it), and bytes the line must carry intact.
    let r = s
        .run(&id, "echo 'it'\"'\"'s 100% \\ é' >&2; sh -c 'exit 3'")
        .await;
    assert_eq!(
        (text(&r).as_str(), r.exit_code),
        ("it's 100% \\ é\n", Some(3)),
        "{who}"
    );
    let r = s.run(&id, "false").await;
    assert_eq!((text(&r).as_str(), r.exit_code), ("", Some(1)), "{who}");

    // A multi-line command; the status is the last command's.
    let r = s.run(&id, "echo one\necho two\ntrue\n").await;
    assert_eq!(
        (text(&r).as_str(), r.exit_code),
        ("one\ntwo\n", Some(0)),
        "{who}"
    );

    // Long output keeps its end; ANSI sequences go when asked.
    let r = s
        .run_with(pb::RunInSessionRequest {
            session_id: id.clone(),
            command: "seq 1 1000".into(),
            max_output_chars: Some(10),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(text(&r), "\n999\n1000\n", "{who}");
    assert!(r.truncated, "{who}");
    let all_lines: u64 = (1..=1000u64).map(|n| n.to_string().len() as u64 + 2).sum();
    assert_eq!(
        r.output_bytes, all_lines,
        "{who}: as the terminal sent them, with \\r\\n"
    );
    let r = s
        .run_with(pb::RunInSessionRequest {
            session_id: id.clone(),
            command: "printf '\\033[1mbold\\033[0m\\n'".into(),
            strip_ansi: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((text(&r).as_str(), r.truncated), ("bold\n", false), "{who}");

    // A syntax error fails at once instead of leaving the shell waiting for a closing quote.
    let r = s.run(&id, "echo 'unclosed").await;
    assert!(!r.timed_out && r.started, "{who}: {r:?}");
    assert_ne!(r.exit_code, Some(0), "{who}: {r:?}");

    // The command runs in the session's shell: a cd stays.
    s.run(&id, "cd /tmp").await;
    let r = s.run(&id, "pwd").await;
    assert_eq!(text(&r), "/tmp\n", "{who}");

    // At the timeout: what arrived, and the command still running. The margins hold on a loaded
    // machine: "before" comes in milliseconds (the timeout is 1.5 s), "after" 4x later.
    let r = s
        .try_run(&id, "echo before; sleep 6; echo after", 1.5)
        .await
        .unwrap();
    assert!(r.timed_out && r.still_running && r.started, "{who}: {r:?}");
    assert_eq!(
        (text(&r).as_str(), r.exit_code),
        ("before\n", None),
        "{who}"
    );
    // Waiting again returns all of it, from its start, with its status.
    let again = s
        .run_with(pb::RunInSessionRequest {
            session_id: id.clone(),
            continue_previous: true,
            timeout_seconds: Some(20.0),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (text(&again).as_str(), again.exit_code, again.still_running),
        ("before\nafter\n", Some(0), false),
        "{who}"
    );
    assert_eq!(again.run_id, r.run_id, "{who}");
    assert!(again.duration_ms >= 2000, "{who}: {again:?}");
    // The session is as usable as before, and the late output is not in the next run's.
    let r = s.run(&id, "echo next").await;
    assert_eq!(
        (text(&r).as_str(), r.exit_code),
        ("next\n", Some(0)),
        "{who}"
    );

    // Input written to a command that reads it does not give up the run.
    let r = s.try_run(&id, "head -n 1", 0.3).await.unwrap();
    assert!(r.still_running, "{who}: {r:?}");
    s.client()
        .await
        .write(pb::WriteSessionRequest {
            session_id: id.clone(),
            input: b"typed line\n".to_vec(),
            ..Default::default()
        })
        .await
        .unwrap();
    let r = s
        .run_with(pb::RunInSessionRequest {
            session_id: id.clone(),
            continue_previous: true,
            timeout_seconds: Some(20.0),
            ..Default::default()
        })
        .await
        .unwrap();
    // The terminal echoes the line as it is typed, then head prints it.
    assert_eq!(
        (text(&r).as_str(), r.exit_code),
        ("typed line\ntyped line\n", Some(0)),
        "{who}"
    );

    // An interrupt typed into the session hands it back at once.
    let r = s.try_run(&id, "sleep 30", 0.3).await.unwrap();
    assert!(r.still_running, "{who}: {r:?}");
    let refused = s.try_run(&id, "echo too-soon", 1.0).await.unwrap_err();
    assert!(
        refused
            .message()
            .contains("still running the previous command"),
        "{who}: {}",
        refused.message()
    );
    s.client()
        .await
        .write(pb::WriteSessionRequest {
            session_id: id.clone(),
            input: b"\x03".to_vec(),
            ..Default::default()
        })
        .await
        .unwrap();
    let r = s.run(&id, "echo back").await;
    assert_eq!(
        (text(&r).as_str(), r.exit_code),
        ("back\n", Some(0)),
        "{who}"
    );

    // Readers of the session never see a mark (the echoed lines are there, as typed).
    let all = s.everything(&id).await;
    assert!(
        !all.contains("\u{1b}]ssh-mcp"),
        "{who}: a mark leaked: {all:?}"
    );
    assert!(all.contains("after"), "{who}: {all:?}");

    // A shell function named printf does not hide where a run starts and ends.
    let shadow = if shell == "fish" {
        "function printf; echo shadowed; end"
    } else {
        "printf() { echo shadowed; }"
    };
    s.run(&id, shadow).await;
    let r = s.run(&id, "echo still-marked").await;
    assert_eq!(
        (text(&r).as_str(), r.exit_code, r.still_running),
        ("still-marked\n", Some(0), false),
        "{who}: {r:?}"
    );

    // `exit` ends the session; the run says so, with the shell's status.
    let r = s.run(&id, "exit 4").await;
    assert!(r.session_ended && !r.still_running, "{who}: {r:?}");
    assert_eq!(r.exit_code, Some(4), "{who}: {r:?}");
    let gone = s.try_run(&id, "echo", 1.0).await.unwrap_err();
    assert!(gone.message().contains("has ended"), "{who}: {gone:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_works_when_the_login_shell_is_bash() {
    run_works_under("bash").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_works_when_the_login_shell_is_dash() {
    run_works_under("dash").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_works_when_the_login_shell_is_zsh() {
    run_works_under("zsh").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_works_when_the_login_shell_is_fish() {
    run_works_under("fish").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_call_while_a_run_waits_is_refused() {
    let s = Shell::start("bash").await;
    let id = s.open().await;
    let nothing = s
        .run_with(pb::RunInSessionRequest {
            session_id: id.clone(),
            continue_previous: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        nothing.code(),
        tonic::Code::FailedPrecondition,
        "{nothing:?}"
    );
    assert!(
        nothing.message().contains("no command still running"),
        "{nothing:?}"
    );
    let first = {
        let client = s.client().await;
        let id = id.clone();
        tokio::spawn(async move {
            let mut client = client;
            client
                .run(pb::RunInSessionRequest {
                    session_id: id,
                    command: "sleep 3; echo slept".into(),
                    timeout_seconds: Some(20.0),
                    ..Default::default()
                })
                .await
                .map(tonic::Response::into_inner)
        })
    };
    // The first call holds the session once its line is echoed.
    let echoed = crate::support::eventually(Duration::from_secs(20), || async {
        s.everything(&id).await.contains("sleep 3").then_some(())
    })
    .await;
    assert!(echoed.is_some(), "the first call's line never showed");
    let e = s.try_run(&id, "echo second", 1.0).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
    assert!(
        e.message()
            .contains("already running a command for another call"),
        "{}",
        e.message()
    );
    let r = first.await.unwrap().unwrap();
    assert_eq!((text(&r).as_str(), r.exit_code), ("slept\n", Some(0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcsh_session_is_refused_clearly_and_bad_input_is_refused() {
    let s = Shell::start("tcsh").await;
    let id = s.open().await;
    let e = s.try_run(&id, "echo hi", 5.0).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("runs tcsh"), "{}", e.message());
    for (command, timeout, field) in [
        ("", 1.0, "'command'"),
        ("ls", f64::NAN, "'timeout_seconds'"),
        ("ls", -1.0, "'timeout_seconds'"),
        ("ls", 301.0, "'timeout_seconds'"),
    ] {
        let e = s.try_run(&id, command, timeout).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
        assert!(e.message().starts_with(field), "{}", e.message());
    }
    let e = s
        .run_with(pb::RunInSessionRequest {
            session_id: id.clone(),
            command: "ls".into(),
            continue_previous: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(e.message().starts_with("'command' must be empty"), "{e:?}");
    let e = s.try_run("no-such-session", "ls", 1.0).await.unwrap_err();
    assert!(e.message().contains("Unknown session_id"), "{e:?}");
}
