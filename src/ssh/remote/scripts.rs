//! The remote command strings ssh-mcp sends: the exec wrapper (working directory, environment,
//! shell, and the report of the remote process id) and the script that ends a command's process
//! group. All agent input in them is quoted by [`super::quote`]; whatever ssh-mcp itself runs goes
//! through [`for_any_login_shell`], so it works whatever the account's login shell is.
//!
//! Why the pid report: when the local `ssh` of a multiplexed channel dies, sshd closes the channel,
//! but a remote command that neither reads stdin nor writes keeps running. sshd starts each
//! command's login shell as a session and process-group leader, so knowing that shell's pid lets
//! the daemon signal the whole group (`kill -- -PID`) over a second channel.

use super::login_shell::for_any_login_shell;
use super::quote::{EnvVar, RemoteDir, RemoteShell, sh_quote};

/// The bytes that open the pid report line on stderr (or the tty stream). The line is
/// `PID_REPORT_PREFIX <nonce> ':' <pid> '\n'`; the nonce makes it unguessable to the command.
pub const PID_REPORT_PREFIX: &[u8] = b"\x1essh-mcp-pid:";

/// The user's command and what reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteCommand {
    /// The command as the agent wrote it, read by the account's login shell (no `shell`, `cwd`
    /// or `env` was given), as the seed did.
    Bare(String),
    /// A POSIX script for sh: the exports, the `cd`, then the command, evaluated by sh or handed
    /// to the `shell` asked for.
    InSh(String),
}

/// The user's command, wrapped when `shell`, `cwd` or `env` is given:
/// `export …; cd <dir> && eval '<command>'`, or `… && exec <shell> -c '<command>'`. sh applies
/// the environment and the directory, so they work whatever the login shell and `shell` are.
/// Without them the command is unchanged and runs in the login shell.
pub fn wrap_command(
    command: &str,
    shell: Option<&RemoteShell>,
    cwd: Option<&RemoteDir>,
    env: &[EnvVar],
) -> RemoteCommand {
    if shell.is_none() && cwd.is_none() && env.is_empty() {
        return RemoteCommand::Bare(command.to_owned());
    }
    let mut parts: Vec<String> = env.iter().map(EnvVar::export_statement).collect();
    let run = match shell {
        Some(shell) => format!("exec {} -c {}", sh_quote(shell.as_str()), sh_quote(command)),
        None => format!("eval {}", sh_quote(command)),
    };
    parts.push(match cwd {
        Some(dir) => format!("cd {} && {run}", dir.shell_word()),
        None => run,
    });
    RemoteCommand::InSh(parts.join("; "))
}

impl RemoteCommand {
    /// The string for sshd: the pid report, tagged with `nonce` (hex digits), then the command.
    ///
    /// A bare command stays in the login shell after `sh -c '<report>'; `, which costs the login
    /// shell one fork of sh. A wrapped one becomes `exec sh -c '<report>; <script>'`: sh replaces
    /// the login shell, keeping its pid.
    pub fn with_pid_report(&self, nonce: &str) -> String {
        // \036 is the octal spelling of PID_REPORT_PREFIX's first byte for printf.
        let report = |pid: &str| format!("printf \"\\036ssh-mcp-pid:{nonce}:%s\\012\" {pid} >&2");
        match self {
            // sh is the login shell's child, in the login shell's group, so the group is $PPID;
            // unless the login shell ran it with exec (bash and zsh do so for a last command, when
            // the user's command turns out to be only comments): then sh leads the group itself.
            RemoteCommand::Bare(command) => format!(
                "{}; {command}",
                for_any_login_shell(&format!(
                    "kill -s 0 -- -$$ 2>/dev/null && p=$$ || p=$PPID; {}",
                    report("\"$p\"")
                ))
            ),
            RemoteCommand::InSh(script) => format!(
                "exec {}",
                for_any_login_shell(&format!("{}; {script}", report("\"$$\"")))
            ),
        }
    }
}

/// The command that opens an interactive session: sh reports its pid (it then becomes the
/// shell, so the pid is the session's process group), applies `env` and `cwd`, and replaces
/// itself with `shell` (else the account's `$SHELL`) as a login shell, so that the profile is read
/// as when sshd starts the login shell itself. Ready to send, whatever the login shell is.
pub fn session_command(
    nonce: &str,
    shell: Option<&RemoteShell>,
    cwd: Option<&RemoteDir>,
    env: &[EnvVar],
) -> String {
    let mut parts = vec![format!(
        "printf \"\\036ssh-mcp-pid:{nonce}:%s\\012\" \"$$\""
    )];
    parts.extend(env.iter().map(EnvVar::export_statement));
    if let Some(dir) = cwd {
        parts.push(format!("cd {} || exit 1", dir.shell_word()));
    }
    let program = match shell {
        Some(shell) => sh_quote(shell.as_str()),
        None => "\"${SHELL:-/bin/sh}\"".to_owned(),
    };
    // The name of the shell, as a mark the session's filter removes: it tells the daemon how to
    // type a run's line (see [`run_in_session_line`]).
    parts.push(format!(
        "s={program}; printf \"\\033]{MARK_TAG};{nonce};S;%s\\007\" \"${{s##*/}}\""
    ));
    // `exec -a -NAME` is not POSIX; `-l` asks every common shell for a login shell.
    parts.push(format!("exec {program} -l"));
    format!("exec {}", for_any_login_shell(&parts.join("; ")))
}

/// The tag of the invisible marks in a session's output: `ESC ] ssh-mcp;<nonce>;<mark> BEL`, a
/// private OSC sequence (as terminals' shell-integration marks are) that terminals ignore and the
/// daemon removes. `<mark>` is `S;<shell name>` (from [`session_command`]), `C;<run id>` (a run's
/// command starts) or `D;<run id>;<exit code>` (it has ended).
pub const MARK_TAG: &str = "ssh-mcp";

/// How a session's shell reads a run's line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunSyntax {
    /// bash and zsh: `$?`, `eval "$(…)"`; a syntax error in the command fails the `eval`.
    Posix,
    /// sh, dash, ksh and other POSIX shells, whose interactive mode abandons the whole line on a
    /// syntax error inside `eval`: the shell itself (`"${0#-}" -n`) checks the command's syntax
    /// first, and only a command that parses is evaluated.
    PosixChecked,
    /// fish: `$status`, `eval (… | string collect)`.
    Fish,
}

impl RunSyntax {
    /// The syntax of the shell named `name` (the basename its session reported), or `None` for
    /// csh and tcsh, whose quoting cannot carry a multi-line command through `eval`.
    pub fn of_shell(name: &str) -> Option<Self> {
        let name = name.trim_start_matches('-');
        match name {
            "fish" => Some(Self::Fish),
            "bash" | "zsh" => Some(Self::Posix),
            "csh" | "tcsh" => None,
            _ => Some(Self::PosixChecked),
        }
    }
}

/// The line typed into a session's shell to run `command` as run `run_id`: a start mark, the
/// command through `eval` (so that it runs in the shell itself: `cd` and variables stay), and an
/// end mark with its exit status. Every printf is the shell's own, which no function of the user
/// named `printf` shadows: `builtin printf` in bash, zsh and fish, `command printf` in the other
/// POSIX shells (dash has no `builtin`). The command goes as a printf format of printable ASCII (octal
/// escapes for quotes, `\`, `%`, `!`, control and non-ASCII bytes), so the shell's line editor
/// sees no tab, newline or byte it would treat as a key, and a command with a syntax error fails
/// inside `eval` instead of leaving the shell waiting for the rest of it. A leading space keeps the
/// line out of the history of shells that honour it (bash's ignorespace, zsh, fish).
pub fn run_in_session_line(syntax: RunSyntax, nonce: &str, run_id: u64, command: &str) -> String {
    let printf = match syntax {
        RunSyntax::Posix | RunSyntax::Fish => "builtin printf",
        RunSyntax::PosixChecked => "command printf",
    };
    // `nonce` is hex digits and the id decimal: nothing printf or the shells would change.
    let mark = |m: &str| format!("{printf} '\\033]{MARK_TAG};{nonce};{m}\\007'");
    let (start, end) = (
        mark(&format!("C;{run_id}")),
        mark(&format!("D;{run_id};%s")),
    );
    let format = printf_literal(command.trim_end_matches(['\n', '\r']));
    match syntax {
        RunSyntax::Posix => format!(
            " {}; eval \"$({printf} '{format}')\"; {} \"$?\"",
            start, end
        ),
        // The command is kept in a variable for the check and the eval; it stays set after.
        RunSyntax::PosixChecked => format!(
            " {}; ssh_mcp_run=\"$({printf} '{format}')\"; \"${{0#-}}\" -n -c \"$ssh_mcp_run\" && \
             eval \"$ssh_mcp_run\"; {} \"$?\"",
            start, end
        ),
        RunSyntax::Fish => format!(
            " {}; eval ({printf} '{format}' | string collect); {} $status",
            start, end
        ),
    }
}

/// `text` as a printf format inside single quotes of sh or fish that prints exactly `text`.
fn printf_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    for (i, &b) in text.as_bytes().iter().enumerate() {
        let special = matches!(b, b'\'' | b'\\' | b'%' | b'!') || (i == 0 && b == b'-');
        if (0x20..0x7f).contains(&b) && !special {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\{b:03o}"));
        }
    }
    out
}

/// A script that ends the process groups `pgids` (and their sessions, where `pkill` exists):
/// SIGTERM to each, up to `grace_tenths` tenths of a second for them to go, then SIGKILL to what
/// is left. It prints one line per group: `<pgid> TERM` when SIGTERM was enough, `<pgid> KILL`
/// when it was not, `<pgid> GONE` when nothing was left to signal. Ready to send: it runs in sh
/// whatever the login shell is.
pub fn kill_groups_script(pgids: &[u32], grace_tenths: u32) -> String {
    let list = pgids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    let script = format!(
        "alive() {{ kill -s 0 -- -$1 2>/dev/null || {{ command -v pgrep >/dev/null 2>&1 && pgrep -s $1 >/dev/null 2>&1; }}; }}; \
         sig() {{ kill -s $1 -- -$2 2>/dev/null; command -v pkill >/dev/null 2>&1 && pkill -$1 -s $2 2>/dev/null; }}; \
         T=; for p in {list}; do if alive $p; then T=\"$T $p\"; sig TERM $p; else echo \"$p GONE\"; fi; done; \
         i=0; while [ $i -lt {grace_tenths} ]; do a=; for p in $T; do alive $p && a=1; done; [ -z \"$a\" ] && break; \
         sleep 0.1 2>/dev/null || sleep 1; i=$((i+1)); done; \
         for p in $T; do if alive $p; then sig KILL $p; echo \"$p KILL\"; else echo \"$p TERM\"; fi; done"
    );
    format!("exec {}", for_any_login_shell(&script))
}

/// Reads the output of [`kill_groups_script`]: the signal that ended each group, if any.
pub fn parse_kill_report(output: &str) -> Vec<(u32, Option<i32>)> {
    output
        .lines()
        .filter_map(|line| {
            let (pgid, what) = line.trim().split_once(' ')?;
            let signal = match what {
                "TERM" => Some(15),
                "KILL" => Some(9),
                _ => None,
            };
            Some((pgid.parse().ok()?, signal))
        })
        .collect()
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "the tests run the real shells to check the quoting"
)]
mod tests {
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
            let (_, out) =
                run_as_login_shell(shell, &run_in_session_line(syntax, NONCE, 8, "( echo"));
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
        let rest = stderr.strip_prefix(prefix.as_slice()).unwrap_or_else(|| {
            panic!("no pid report first: {:?}", String::from_utf8_lossy(stderr))
        });
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
}
