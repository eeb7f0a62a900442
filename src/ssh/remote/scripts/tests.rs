//! Unit tests of the remote scripts, run under sh, dash, bash, zsh, fish and tcsh.

use super::*;
use crate::ssh::remote::login_shell::tests::{LOGIN_SHELLS, run_as_login_shell};

const NONCE: &str = "0123abcd";

#[test]
fn a_session_reports_its_pid_then_becomes_the_shell() {
    let env = [EnvVar::parse("GREETING", "it's $HOME").unwrap()];
    let dir = RemoteDir::parse("/tmp").unwrap();
    let shell = RemoteShell::parse("sh").unwrap();
    for login in LOGIN_SHELLS {
        // The session's shell reads its commands from stdin here: `exit 7` ends it.
        let line = session_command(NONCE, Some(&shell), Some(&dir), &env);
        let mut child = std::process::Command::new(login)
            .arg("-c")
            .arg(&line)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", "/tmp")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"echo \"$GREETING|$PWD|$$\"; exit 7\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let prefix = format!("\u{1e}ssh-mcp-pid:{NONCE}:");
        let rest = text
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{login}: no pid report first: {text:?}"));
        let (pid, rest) = rest.split_once('\n').unwrap();
        let shell_mark = format!("\u{1b}]{MARK_TAG};{NONCE};S;sh\u{7}");
        let rest = rest
            .strip_prefix(&shell_mark)
            .unwrap_or_else(|| panic!("{login}: no shell mark: {rest:?}"));
        assert_eq!(rest, format!("it's $HOME|/tmp|{pid}\n"), "{login}");
        assert_eq!(out.status.code(), Some(7), "{login}");
    }
}

#[test]
fn a_run_line_marks_the_command_and_its_status_in_posix_shells_and_fish() {
    let command = "printf '%s|' \"it's\" 'a\\b' 100% 'bang!' 'é\tx'\nprintf 'two\\n'; false";
    for (shell, syntax) in [
        ("sh", RunSyntax::PosixChecked),
        ("dash", RunSyntax::PosixChecked),
        ("bash", RunSyntax::Posix),
        ("zsh", RunSyntax::Posix),
        ("fish", RunSyntax::Fish),
    ] {
        let line = run_in_session_line(syntax, NONCE, 7, command);
        assert!(
            line.bytes().all(|b| (0x20..0x7f).contains(&b)),
            "{shell}: {line:?}"
        );
        let (_, out) = run_as_login_shell(shell, &line);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!(
                "\u{1b}]{MARK_TAG};{NONCE};C;7\u{7}it's|a\\b|100%|bang!|é\tx|two\n\
                 \u{1b}]{MARK_TAG};{NONCE};D;7;1\u{7}"
            ),
            "{shell}: {line}"
        );
        // A function named printf changes nothing: the marks use the shell's own.
        let shadow = match syntax {
            RunSyntax::Fish => "function printf; echo shadowed; return 3; end; ",
            _ => "printf() { echo shadowed; return 3; }; ",
        };
        let (_, out) = run_as_login_shell(shell, &format!("{shadow}{line}"));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!(
                "\u{1b}]{MARK_TAG};{NONCE};C;7\u{7}shadowed\nshadowed\n\
                 \u{1b}]{MARK_TAG};{NONCE};D;7;1\u{7}"
            ),
            "{shell}: a function named printf: {line}"
        );
        // A syntax error fails inside eval: the end mark still comes.
        let (_, out) = run_as_login_shell(shell, &run_in_session_line(syntax, NONCE, 8, "( echo"));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(";D;8;"), "{shell}: {text:?}");
        assert!(!text.ends_with(";D;8;0\u{7}"), "{shell}: {text:?}");
    }
    // What other readers of the session see echoed, for a plain command.
    assert_eq!(
        run_in_session_line(RunSyntax::Posix, NONCE, 7, "ls -l\n"),
        " builtin printf '\\033]ssh-mcp;0123abcd;C;7\\007'; \
         eval \"$(builtin printf 'ls -l')\"; \
         builtin printf '\\033]ssh-mcp;0123abcd;D;7;%s\\007' \"$?\""
    );
    assert_eq!(RunSyntax::of_shell("fish"), Some(RunSyntax::Fish));
    assert_eq!(RunSyntax::of_shell("-bash"), Some(RunSyntax::Posix));
    assert_eq!(RunSyntax::of_shell("dash"), Some(RunSyntax::PosixChecked));
    assert_eq!(RunSyntax::of_shell("tcsh"), None);
}

/// Splits the pid report off the front of `stderr`; returns the pid and the rest.
fn take_report(stderr: &[u8]) -> (u32, &[u8]) {
    let prefix = [PID_REPORT_PREFIX, NONCE.as_bytes(), b":"].concat();
    let rest = stderr
        .strip_prefix(prefix.as_slice())
        .unwrap_or_else(|| panic!("no pid report first: {:?}", String::from_utf8_lossy(stderr)));
    let nl = rest.iter().position(|&b| b == b'\n').unwrap();
    let pid = std::str::from_utf8(&rest[..nl]).unwrap().parse().unwrap();
    (pid, &rest[nl + 1..])
}

#[test]
fn bare_command_is_unchanged() {
    assert_eq!(
        wrap_command("ls -l", None, None, &[]),
        RemoteCommand::Bare("ls -l".into())
    );
}

#[test]
fn bare_command_runs_in_the_login_shell_after_the_report_of_its_pid() {
    // Valid in every one of the shells; `$0` would differ, so it is not printed.
    let line = wrap_command("echo out; exit 3", None, None, &[]).with_pid_report(NONCE);
    for shell in LOGIN_SHELLS {
        let (login_pid, out) = run_as_login_shell(shell, &line);
        let (pid, rest) = take_report(&out.stderr);
        assert_eq!(pid, login_pid, "{shell}: the report names the login shell");
        assert_eq!(rest, b"", "{shell}");
        assert_eq!(out.stdout, b"out\n", "{shell}");
        assert_eq!(out.status.code(), Some(3), "{shell}");
    }
}

#[test]
fn a_login_shell_that_execs_the_report_still_names_its_own_pid() {
    // bash and zsh exec the last command of `-c`; a command of only a comment makes the
    // report's sh that last command.
    let line = wrap_command("# nothing", None, None, &[]).with_pid_report(NONCE);
    for shell in LOGIN_SHELLS {
        let (login_pid, out) = run_as_login_shell(shell, &line);
        assert_eq!(take_report(&out.stderr).0, login_pid, "{shell}");
    }
}

#[test]
fn wrapped_command_gets_env_cwd_and_tricky_bytes_under_every_login_shell() {
    let value = "it's \"v\" $HOME `id` \\ %s ! é\nline\n";
    let env = [
        EnvVar::parse("A", value).unwrap(),
        EnvVar::parse("B", "").unwrap(),
    ];
    let dir = RemoteDir::parse("/").unwrap();
    let command = "printf '%s|' \"$A\" \"${B-unset}\" \"$PWD\" \"$0\" 'a\\b' \"it's\" '100%' 'bang!' 'é€'\n\
                   printf '%s\\n' done; exit 4\n";
    let expected = format!("{value}||/|sh|a\\b|it's|100%|bang!|é€|done\n");
    let sh = wrap_command(command, None, Some(&dir), &env).with_pid_report(NONCE);
    let bash = RemoteShell::parse("bash").unwrap();
    let in_bash = wrap_command(command, Some(&bash), Some(&dir), &env).with_pid_report(NONCE);
    for shell in LOGIN_SHELLS {
        for (line, zero) in [(&sh, "|sh|"), (&in_bash, "|bash|")] {
            let (login_pid, out) = run_as_login_shell(shell, line);
            let (pid, rest) = take_report(&out.stderr);
            assert_eq!(pid, login_pid, "{shell}");
            assert_eq!(rest, b"", "{shell}");
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                expected.replace("|sh|", zero),
                "{shell} -c {line:?}"
            );
            assert_eq!(out.status.code(), Some(4), "{shell}");
        }
    }
}

#[test]
fn a_failed_cd_runs_nothing() {
    let dir = RemoteDir::parse("/nonexistent dir").unwrap();
    let line = wrap_command("echo ran", None, Some(&dir), &[]).with_pid_report(NONCE);
    let (_, out) = run_as_login_shell("fish", &line);
    assert_eq!(out.stdout, b"");
    assert_ne!(out.status.code(), Some(0));
}

#[test]
fn kill_script_runs_under_every_login_shell() {
    use std::os::unix::process::CommandExt;
    for shell in LOGIN_SHELLS {
        let mut polite = std::process::Command::new("sleep");
        polite.arg("30").process_group(0);
        let mut polite = polite.spawn().unwrap();
        let id = polite.id();
        let reaper = std::thread::spawn(move || polite.wait().unwrap());
        let (_, out) = run_as_login_shell(shell, &kill_groups_script(&[id, 999_999], 20));
        let report = parse_kill_report(&String::from_utf8_lossy(&out.stdout));
        assert!(report.contains(&(id, Some(15))), "{shell}: {report:?}");
        assert!(report.contains(&(999_999, None)), "{shell}: {report:?}");
        assert_eq!(out.stderr, b"", "{shell}");
        reaper.join().unwrap();
    }
}

#[test]
fn kill_script_ends_groups_and_reports_each() {
    use std::os::unix::process::CommandExt;
    let mut stubborn = std::process::Command::new("sh");
    stubborn
        .args(["-c", "trap '' TERM; sleep 30 & sleep 30"])
        .process_group(0);
    let mut stubborn = stubborn.spawn().unwrap();
    let mut polite = std::process::Command::new("sleep");
    polite.arg("30").process_group(0);
    let mut polite = polite.spawn().unwrap();
    // The shell sets its trap before it starts the sleeps: wait until they run.
    let group_size = |pgid: u32| {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                std::fs::read_to_string(e.path().join("stat")).is_ok_and(|st| {
                    st.rsplit(')')
                        .next()
                        .and_then(|r| r.split_whitespace().nth(2))
                        == Some(&pgid.to_string())
                })
            })
            .count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while group_size(stubborn.id()) < 3 && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    let (stubborn_id, polite_id) = (stubborn.id(), polite.id());
    // Reap them as soon as they die, as sshd and init do on a real host.
    let reapers = [
        std::thread::spawn(move || stubborn.wait().unwrap()),
        std::thread::spawn(move || polite.wait().unwrap()),
    ];
    let script = kill_groups_script(&[stubborn_id, polite_id, 999_999], 20);
    let (_, out) = run_as_login_shell("sh", &script);
    let report = parse_kill_report(&String::from_utf8_lossy(&out.stdout));
    assert!(report.contains(&(stubborn_id, Some(9))), "{report:?}");
    assert!(report.contains(&(polite_id, Some(15))), "{report:?}");
    assert!(report.contains(&(999_999, None)), "{report:?}");
    for r in reapers {
        r.join().unwrap();
    }
}

#[test]
fn without_grace_groups_get_sigkill_alone() {
    // A group that SIGTERM would end: a forced stop still kills it, and says so.
    let mut polite = std::process::Command::new("setsid")
        .args(["sleep", "60"])
        .spawn()
        .unwrap();
    let id = polite.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !std::path::Path::new(&format!("/proc/{id}")).exists()
        && std::time::Instant::now() < deadline
    {
        std::thread::yield_now();
    }
    let reaper = std::thread::spawn(move || polite.wait().unwrap());
    let (_, out) = run_as_login_shell("sh", &kill_groups_script(&[id], 0));
    let report = parse_kill_report(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(report, [(id, Some(9))]);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(reaper.join().unwrap().signal(), Some(9));
}
