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

/// A script that ends process group `pgid` (and its session, where `pkill` exists): SIGTERM, up
/// to `grace_tenths` tenths of a second for it to go, then SIGKILL. It prints `TERM` when SIGTERM
/// was enough, `KILL` when it was not, and `GONE` when nothing was left to signal.
pub fn kill_group_script(pgid: u32, grace_tenths: u32) -> String {
    format!(
        "p={pgid}; \
         alive() {{ kill -0 -- -$p 2>/dev/null || {{ command -v pgrep >/dev/null 2>&1 && pgrep -s $p >/dev/null 2>&1; }}; }}; \
         alive || {{ echo GONE; exit 0; }}; \
         kill -TERM -- -$p 2>/dev/null; command -v pkill >/dev/null 2>&1 && pkill -TERM -s $p 2>/dev/null; \
         i=0; while [ $i -lt {grace_tenths} ] && alive; do sleep 0.1 2>/dev/null || sleep 1; i=$((i+1)); done; \
         if alive; then kill -KILL -- -$p 2>/dev/null; command -v pkill >/dev/null 2>&1 && pkill -KILL -s $p 2>/dev/null; echo KILL; else echo TERM; fi"
    )
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
