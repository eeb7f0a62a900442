//! Malformed and extreme RunRequests, interleaved with good ones: each gets an answer (a refusal
//! naming the problem, or a result), and afterwards the same daemon process still serves.

use std::time::Duration;

use ssh_mcp_core::pb::exec_client::ExecClient;
use ssh_mcp_core::pb::{self, RunRequest};

use super::{assert_daemon_healthy, run_events, wait_for_status};
use crate::support::daemon::{Daemon, run_request};
use crate::support::sshd::Sshd;

type Outcome = Result<(Vec<pb::Progress>, pb::Finished), tonic::Status>;
type Check = Box<dyn Fn(&Outcome) -> Result<(), String> + Send + Sync>;

/// What a case must get back.
enum Expect {
    /// InvalidArgument with a message: refused before anything ran.
    Refused,
    /// Anything else, checked by the closure.
    Check(Check),
}

impl Expect {
    fn check(&self, o: &Outcome) -> Result<(), String> {
        match self {
            Expect::Refused => match o {
                Err(s) if s.code() == tonic::Code::InvalidArgument && !s.message().is_empty() => {
                    Ok(())
                }
                _ => Err("expected InvalidArgument with a message".into()),
            },
            Expect::Check(c) => c(o),
        }
    }
}

fn describe(o: &Outcome) -> String {
    match o {
        Ok((p, f)) => format!(
            "finished: exit {:?}, signal {:?}, timed_out {}, {} progress events, \
             stdout {:?}, stderr {:?}",
            f.exit_code,
            f.signal,
            f.timed_out,
            p.len(),
            String::from_utf8_lossy(&f.stdout[..f.stdout.len().min(200)]),
            String::from_utf8_lossy(&f.stderr[..f.stderr.len().min(300)]),
        ),
        Err(s) => format!(
            "error {:?}: {}",
            s.code(),
            &s.message()[..s.message().len().min(300)]
        ),
    }
}

fn refused() -> Expect {
    Expect::Refused
}

fn fails_with(code: tonic::Code) -> Expect {
    Expect::Check(Box::new(move |o| match o {
        Err(s) if s.code() == code => Ok(()),
        _ => Err(format!("expected {code:?}")),
    }))
}

fn any_error() -> Expect {
    Expect::Check(Box::new(|o| match o {
        Err(_) => Ok(()),
        Ok(_) => Err("expected an error".into()),
    }))
}

fn finishes(
    check: impl Fn(&[pb::Progress], &pb::Finished) -> bool + Send + Sync + 'static,
) -> Expect {
    Expect::Check(Box::new(move |o| match o {
        Ok((p, f)) if check(p, f) => Ok(()),
        _ => Err("expected a finished command that passes the check".into()),
    }))
}

struct Case {
    name: &'static str,
    req: RunRequest,
    expect: Expect,
}

fn with(cmd: &str, edit: impl FnOnce(&mut RunRequest)) -> RunRequest {
    let mut r = run_request(cmd);
    edit(&mut r);
    r
}

fn conn(edit: impl FnOnce(&mut pb::Connection)) -> Option<pb::Connection> {
    let mut c = pb::Connection {
        target: "testhost".into(),
        ..Default::default()
    };
    edit(&mut c);
    Some(c)
}

fn env(name: &str, value: &str) -> pb::EnvVar {
    pb::EnvVar {
        name: name.into(),
        value: value.into(),
    }
}

fn hostile_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut add = |name: &'static str, req: RunRequest, expect: Expect| {
        cases.push(Case { name, req, expect })
    };

    // The connection.
    add(
        "missing connection",
        with("true", |r| r.connection = None),
        refused(),
    );
    add(
        "empty target",
        with("true", |r| r.connection = conn(|c| c.target.clear())),
        refused(),
    );
    add(
        "blank target",
        with("true", |r| {
            r.connection = conn(|c| c.target = " \t ".into())
        }),
        refused(),
    );
    add(
        "unicode target",
        with("true", |r| {
            r.connection = conn(|c| c.target = "hôst-日本-🚀".into())
        }),
        refused(),
    );
    add(
        "target with NUL",
        with("true", |r| {
            r.connection = conn(|c| c.target = "testhost\0-oProxyCommand=x".into())
        }),
        refused(),
    );
    add(
        "port 0",
        with("true", |r| r.connection = conn(|c| c.port = Some(0))),
        refused(),
    );
    add(
        "port above 65535",
        with("true", |r| r.connection = conn(|c| c.port = Some(u32::MAX))),
        refused(),
    );
    add(
        "relative identity file",
        with("true", |r| {
            r.connection = conn(|c| c.identity_file = Some("keys/id".into()))
        }),
        refused(),
    );
    add(
        "identity file with newline",
        with("true", |r| {
            r.connection = conn(|c| c.identity_file = Some("/tmp/a\nProxyCommand x".into()))
        }),
        refused(),
    );
    add(
        "empty known_hosts file",
        with("true", |r| {
            r.connection = conn(|c| c.known_hosts_file = Some(String::new()))
        }),
        refused(),
    );
    add(
        "strict host key checking word",
        with("true", |r| {
            r.connection = conn(|c| c.strict_host_key_checking = Some("maybe".into()))
        }),
        refused(),
    );
    add(
        "known_hosts that knows nothing, strictly",
        with("true", |r| {
            r.connection = conn(|c| {
                c.known_hosts_file = Some("/dev/null".into());
                c.strict_host_key_checking = Some("yes".into());
            })
        }),
        fails_with(tonic::Code::Unavailable),
    );
    add(
        "ssh_auth_sock with NUL is ignored",
        with("echo agent-ok", |r| {
            r.connection = conn(|c| c.ssh_auth_sock = Some("\0".into()))
        }),
        finishes(|_, f| f.stdout == b"agent-ok\n"),
    );
    add(
        "ssh_auth_sock that does not exist",
        with("echo agent-ok", |r| {
            r.connection = conn(|c| c.ssh_auth_sock = Some("/nonexistent/agent.sock".into()))
        }),
        finishes(|_, f| f.stdout == b"agent-ok\n"),
    );
    add(
        "10,000 extra_ssh_args, all harmless",
        with("echo many-args", |r| {
            r.connection = conn(|c| c.extra_ssh_args = vec!["-C".into(); 10_000])
        }),
        finishes(|_, f| f.stdout == b"many-args\n" && f.exit_code == Some(0)),
    );
    add(
        "10,000 extra_ssh_args as 5,000 -o pairs",
        with("echo many-pairs", |r| {
            r.connection = conn(|c| {
                c.extra_ssh_args = (0..10_000)
                    .map(|i| {
                        if i % 2 == 0 {
                            "-o".into()
                        } else {
                            "ServerAliveCountMax=3".into()
                        }
                    })
                    .collect()
            })
        }),
        finishes(|_, f| f.stdout == b"many-pairs\n"),
    );
    add(
        "10,000 extra_ssh_args with ProxyCommand last",
        with("true", |r| {
            r.connection = conn(|c| {
                c.extra_ssh_args = vec!["-C".into(); 9_999];
                c.extra_ssh_args
                    .push("-oProxyCommand=touch /tmp/robustness-pwned".into());
            })
        }),
        refused(),
    );
    add(
        "extra_ssh_args element of 1 MB",
        with("true", |r| {
            r.connection =
                conn(|c| c.extra_ssh_args = vec![format!("-oUser={}", "u".repeat(1 << 20))])
        }),
        any_error(),
    );

    // Timeouts.
    for (name, t) in [
        ("NaN timeout", f64::NAN),
        ("+inf timeout", f64::INFINITY),
        ("-inf timeout", f64::NEG_INFINITY),
        ("negative timeout", -1.0),
        ("zero timeout", 0.0),
        ("negative zero timeout", -0.0),
        ("timeout just over a week", 7.0 * 24.0 * 3600.0 + 1.0),
        ("huge timeout", 1e300),
        ("f64::MAX timeout", f64::MAX),
    ] {
        add(
            name,
            with("true", |r| r.timeout_seconds = Some(t)),
            refused(),
        );
    }
    add(
        "smallest positive timeout",
        with("sleep 5", |r| r.timeout_seconds = Some(f64::MIN_POSITIVE)),
        finishes(|_, f| f.timed_out && f.exit_code.is_none()),
    );
    add(
        "subnormal timeout",
        with("sleep 5", |r| r.timeout_seconds = Some(5e-324)),
        finishes(|_, f| f.timed_out),
    );
    add(
        "timeout while the command floods its output",
        with("yes", |r| {
            r.timeout_seconds = Some(1.0);
            r.max_output_bytes = 64;
        }),
        finishes(|_, f| f.timed_out && f.stdout_truncated && f.stdout_bytes > 64),
    );
    add(
        "a week of timeout is accepted",
        with("echo week", |r| {
            r.timeout_seconds = Some(7.0 * 24.0 * 3600.0)
        }),
        finishes(|_, f| f.stdout == b"week\n" && !f.timed_out),
    );

    // Output caps.
    for (name, n) in [
        ("max_output_bytes 1", 1),
        ("max_output_bytes 63", 63),
        ("max_output_bytes u64::MAX", u64::MAX),
        ("max_output_bytes 4 GiB + 1", (4 << 30) + 1),
    ] {
        add(name, with("true", |r| r.max_output_bytes = n), refused());
    }
    add(
        "max_output_bytes 64 keeps 64 and counts all",
        with("head -c 1000 /dev/zero | tr '\\0' a", |r| {
            r.max_output_bytes = 64
        }),
        finishes(|_, f| {
            f.stdout_truncated && f.stdout_bytes == 1000 && f.stdout.starts_with(b"aaaa")
        }),
    );
    add(
        "max_output_bytes 0 means the default",
        with("head -c 1000 /dev/zero | tr '\\0' b", |r| {
            r.max_output_bytes = 0
        }),
        finishes(|_, f| !f.stdout_truncated && f.stdout == vec![b'b'; 1000]),
    );
    for (name, n) in [
        ("result_chars 1", 1),
        ("result_chars 1999", 1999),
        ("result_chars 1,000,001", 1_000_001),
        ("result_chars u32::MAX", u32::MAX),
    ] {
        add(name, with("true", |r| r.result_chars = n), refused());
    }
    add(
        "result_chars 2000 keeps the head and tail and the whole output by id",
        with("seq 1 100000", |r| r.result_chars = 2000),
        finishes(|_, f| {
            f.stdout_truncated
                && f.stdout_cut_at == Some(2000)
                && f.stdout.len() == 4000
                && f.output_id.starts_with("out-")
        }),
    );
    add(
        "max_output_bytes 64 MiB with small output",
        with("echo small", |r| r.max_output_bytes = 64 << 20),
        finishes(|_, f| f.stdout == b"small\n"),
    );

    // The command.
    add("empty command", run_request(""), refused());
    add("blank command", run_request(" \n\t "), refused());
    add(
        "command with NUL",
        run_request("echo a\0; touch /tmp/robustness-pwned"),
        refused(),
    );
    add(
        "10 MB command",
        run_request(&"x".repeat(10 << 20)),
        any_error(),
    );
    add(
        "100 KB command",
        run_request(&format!(": {}; echo big-ok", "y".repeat(100_000))),
        finishes(|_, f| f.stdout == b"big-ok\n"),
    );
    add(
        "unicode command",
        run_request("printf '%s' 'héllo 日本 🚀 \u{202e}rtl'"),
        finishes(|_, f| f.stdout == "héllo 日本 🚀 \u{202e}rtl".as_bytes()),
    );
    add(
        "a forged pid report is ordinary output",
        run_request("printf '\\036ssh-mcp-pid:0000000000000000:1\\n' >&2; echo forged"),
        finishes(|_, f| {
            f.stdout == b"forged\n" && f.stderr.starts_with(b"\x1essh-mcp-pid:0000000000000000:1")
        }),
    );

    // Environment.
    for (name, var) in [
        ("env name with '='", env("A=B", "v")),
        ("env name with NUL", env("A\0B", "v")),
        ("empty env name", env("", "v")),
        ("env name starting with a digit", env("1A", "v")),
        ("unicode env name", env("ÄB", "v")),
        ("env name with a space", env("A B", "v")),
        (
            "env name with shell code",
            env("X;touch /tmp/robustness-pwned;Y", "v"),
        ),
        ("env value with NUL", env("A", "a\0b")),
    ] {
        add(name, with("true", |r| r.env = vec![var]), refused());
    }
    add(
        "a thousand env vars",
        with("printf '%s|%s' \"$V0\" \"$V999\"", |r| {
            r.env = (0..1000)
                .map(|i| env(&format!("V{i}"), &format!("v{i}")))
                .collect()
        }),
        finishes(|_, f| f.stdout == b"v0|v999"),
    );
    add(
        "unicode env value",
        with("printf %s \"$U\"", |r| {
            r.env = vec![env("U", "ünï 日本 🚀\u{feff}")]
        }),
        finishes(|_, f| f.stdout == "ünï 日本 🚀\u{feff}".as_bytes()),
    );

    // cwd and shell.
    for (name, cwd) in [
        ("empty cwd", ""),
        ("cwd with newline", "/tmp\ntouch /tmp/robustness-pwned"),
        ("cwd with escape sequence", "/tmp/\x1b[31mred"),
        ("cwd with NUL", "/tmp\0/x"),
        ("cwd with DEL", "/tmp/\x7f"),
    ] {
        add(name, with("true", |r| r.cwd = Some(cwd.into())), refused());
    }
    add(
        "unicode cwd that does not exist",
        with("echo should-not-run", |r| {
            r.cwd = Some("/nonexistent/日本/🚀".into())
        }),
        finishes(|_, f| f.exit_code.is_some_and(|c| c != 0) && f.stdout.is_empty()),
    );
    for (name, shell) in [
        ("empty shell", ""),
        ("shell with bell", "\x07bash"),
        ("shell with newline", "sh\nid"),
    ] {
        add(
            name,
            with("true", |r| r.shell = Some(shell.into())),
            refused(),
        );
    }
    add(
        "unicode shell that does not exist",
        with("true", |r| r.shell = Some("no-such-shell-🚀".into())),
        finishes(|_, f| f.exit_code == Some(127)),
    );

    // Progress and tty.
    add(
        "progress every millisecond",
        with("sleep 0.6; echo ticked", |r| r.progress_interval_ms = 1),
        finishes(|p, f| f.stdout == b"ticked\n" && !p.is_empty() && p.len() <= 20),
    );
    add(
        "progress every 49 days",
        with("echo quiet", |r| r.progress_interval_ms = u32::MAX),
        finishes(|p, f| f.stdout == b"quiet\n" && p.is_empty()),
    );
    add(
        "tty command that closes stdout and stderr early",
        with("exec 1>&- 2>&-; sleep 0.2; exit 5", |r| r.tty = true),
        finishes(|_, f| f.exit_code == Some(5)),
    );
    // Over a ControlMaster, OpenSSH loses the exit status when the pty closes before the
    // command exits (plain `ssh -tt` reports 7, the mux client 255); the daemon must still answer.
    add(
        "tty command that closes every descriptor",
        with("exec 0<&- 1>&- 2>&-; sleep 0.2; exit 7", |r| r.tty = true),
        finishes(|_, f| f.exit_code.is_some()),
    );
    add(
        "command without tty that closes its pipes early",
        run_request("exec 1>&- 2>&-; sleep 0.2; exit 6"),
        finishes(|_, f| f.exit_code == Some(6)),
    );
    add(
        "tty flood beyond a tiny cap",
        with("head -c 200000 /dev/zero | tr '\\0' z; exit 3", |r| {
            r.tty = true;
            r.max_output_bytes = 64;
        }),
        // Whether every byte arrives with a tty is tests/robustness/regressions.rs's business.
        finishes(|_, f| f.exit_code == Some(3) && f.stdout_truncated && f.stdout.len() < 200),
    );
    cases
}

async fn good_command(d: &Daemon, n: usize) {
    let f = d
        .exec(run_request(&format!("echo good-{n}")))
        .await
        .unwrap_or_else(|e| panic!("good request {n} failed: {e}"));
    assert_eq!(
        String::from_utf8_lossy(&f.stdout),
        format!("good-{n}\n"),
        "good request {n}: {f:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_answers_every_hostile_run_request_and_keeps_serving() {
    let sshd = Sshd::start();
    let mut d = Daemon::start(&sshd.ssh_config());
    let pid = d.status().await.pid;
    assert_eq!(pid, d.pid());
    let cases = hostile_cases();
    assert!(cases.len() >= 60, "the table shrank: {}", cases.len());
    let mut failures = Vec::new();
    for (n, case) in cases.into_iter().enumerate() {
        let outcome = tokio::time::timeout(Duration::from_secs(30), run_events(&d, case.req))
            .await
            .unwrap_or_else(|_| panic!("case '{}' got no answer within 30 s", case.name));
        if let Err(why) = case.expect.check(&outcome) {
            failures.push(format!(
                "'{}': {why}; got {}",
                case.name,
                describe(&outcome)
            ));
        }
        if n % 4 == 0 {
            good_command(&d, n).await;
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases misbehaved:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        !std::path::Path::new("/tmp/robustness-pwned").exists(),
        "a hostile request ran its payload"
    );

    // Every refusal again, all at once, with good commands among them.
    let mut calls = Vec::new();
    for case in hostile_cases()
        .into_iter()
        .filter(|c| matches!(c.expect, Expect::Refused))
    {
        let channel = d.channel().await;
        calls.push(tokio::spawn(async move {
            let r = ExecClient::new(channel).run(case.req).await;
            (case.name, r.err().map(|s| s.code()))
        }));
    }
    assert!(calls.len() >= 40, "only {} refusals", calls.len());
    for n in 0..5 {
        good_command(&d, 1000 + n).await;
    }
    for call in calls {
        let (name, code) = call.await.unwrap();
        assert_eq!(
            code,
            Some(tonic::Code::InvalidArgument),
            "concurrent '{name}'"
        );
    }
    let (status, idle) =
        wait_for_status(&d, Duration::from_secs(15), |s| s.running_commands == 0).await;
    assert!(idle, "commands still counted as running: {status:?}");
    assert_daemon_healthy(&mut d, pid).await;
}
