//! The remote command strings ssh-mcp sends: the exec wrapper (working directory, environment,
//! shell, and the report of the remote process id) and the script that ends a command's process
//! group. All agent input in them is quoted by [`super::quote`].
//!
//! Why the pid report: when the local `ssh` of a multiplexed channel dies, sshd closes the channel,
//! but a remote command that neither reads stdin nor writes keeps running. sshd starts each
//! command's shell as a session and process-group leader, so knowing that shell's pid lets the
//! daemon signal the whole group (`kill -- -PID`) over a second channel.

use super::quote::{EnvVar, RemoteDir, RemoteShell, sh_quote};

/// The bytes that open the pid report line on stderr (or the tty stream). The line is
/// `PID_REPORT_PREFIX <nonce> ':' <pid> '\n'`; the nonce makes it unguessable to the command.
pub const PID_REPORT_PREFIX: &[u8] = b"\x1essh-mcp-pid:";

/// The user's command, wrapped as the seed did when `shell`, `cwd` or `env` is given:
/// `exec <shell> -c '<exports>; cd <dir> && <command>'`. Without them the command is unchanged
/// and runs in the login shell.
pub fn wrap_command(
    command: &str,
    shell: Option<&RemoteShell>,
    cwd: Option<&RemoteDir>,
    env: &[EnvVar],
) -> String {
    if shell.is_none() && cwd.is_none() && env.is_empty() {
        return command.to_owned();
    }
    let mut parts: Vec<String> = env.iter().map(EnvVar::export_statement).collect();
    let body = match cwd {
        Some(dir) => format!("cd {} && {command}", dir.shell_word()),
        None => command.to_owned(),
    };
    parts.push(body);
    let script = parts.join("; ");
    let shell = shell.map_or("sh", RemoteShell::as_str);
    format!("exec {} -c {}", sh_quote(shell), sh_quote(&script))
}

/// Prefixes `wrapped` with the pid report, written to stderr before anything else runs.
pub fn with_pid_report(wrapped: &str, nonce: &str) -> String {
    // \036 is the octal spelling of PID_REPORT_PREFIX's first byte for printf.
    format!("printf '\\036ssh-mcp-pid:{nonce}:%s\\n' \"$$\" >&2; {wrapped}")
}

/// A script that ends the process groups `pgids` (and their sessions, where `pkill` exists):
/// SIGTERM to each, up to `grace_tenths` tenths of a second for them to go, then SIGKILL to what
/// is left. It prints one line per group: `<pgid> TERM` when SIGTERM was enough, `<pgid> KILL`
/// when it was not, `<pgid> GONE` when nothing was left to signal.
pub fn kill_groups_script(pgids: &[u32], grace_tenths: u32) -> String {
    let list = pgids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "alive() {{ kill -s 0 -- -$1 2>/dev/null || {{ command -v pgrep >/dev/null 2>&1 && pgrep -s $1 >/dev/null 2>&1; }}; }}; \
         sig() {{ kill -s $1 -- -$2 2>/dev/null; command -v pkill >/dev/null 2>&1 && pkill -$1 -s $2 2>/dev/null; }}; \
         T=; for p in {list}; do if alive $p; then T=\"$T $p\"; sig TERM $p; else echo \"$p GONE\"; fi; done; \
         i=0; while [ $i -lt {grace_tenths} ]; do a=; for p in $T; do alive $p && a=1; done; [ -z \"$a\" ] && break; \
         sleep 0.1 2>/dev/null || sleep 1; i=$((i+1)); done; \
         for p in $T; do if alive $p; then sig KILL $p; echo \"$p KILL\"; else echo \"$p TERM\"; fi; done"
    )
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
    reason = "the tests run sh to check the quoting"
)]
mod tests {
    use super::*;

    #[test]
    fn bare_command_is_unchanged() {
        assert_eq!(wrap_command("ls -l", None, None, &[]), "ls -l");
    }

    #[test]
    fn wrapper_runs_in_sh_with_env_and_cwd() {
        let env = [
            EnvVar::parse("A", "x y").unwrap(),
            EnvVar::parse("B", "it's").unwrap(),
        ];
        let dir = RemoteDir::parse("/tmp").unwrap();
        let cmd = wrap_command(
            "printf '%s|%s|%s' \"$A\" \"$B\" \"$PWD\"",
            None,
            Some(&dir),
            &env,
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&cmd)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "x y|it's|/tmp");
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
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        let report = parse_kill_report(&String::from_utf8_lossy(&out.stdout));
        assert!(report.contains(&(stubborn_id, Some(9))), "{report:?}");
        assert!(report.contains(&(polite_id, Some(15))), "{report:?}");
        assert!(report.contains(&(999_999, None)), "{report:?}");
        for r in reapers {
            r.join().unwrap();
        }
    }

    #[test]
    fn pid_report_comes_first_on_stderr() {
        let cmd = with_pid_report("echo out; echo err >&2", "n0nce");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&cmd)
            .output()
            .unwrap();
        let err = out.stderr;
        assert!(err.starts_with(b"\x1essh-mcp-pid:n0nce:"), "{err:?}");
        assert!(err.ends_with(b"\nerr\n"));
        assert_eq!(out.stdout, b"out\n");
    }
}
