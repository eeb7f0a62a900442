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
/// when it was not, `<pgid> GONE` when nothing was left to signal. With no grace (a forced
/// stop) it sends SIGKILL alone: a group that SIGTERM would also have ended is reported killed,
/// as asked. Ready to send: it runs in sh whatever the login shell is.
pub fn kill_groups_script(pgids: &[u32], grace_tenths: u32) -> String {
    let list = pgids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    let first = if grace_tenths == 0 { "KILL" } else { "TERM" };
    let script = format!(
        "alive() {{ kill -s 0 -- -$1 2>/dev/null || {{ command -v pgrep >/dev/null 2>&1 && pgrep -s $1 >/dev/null 2>&1; }}; }}; \
         sig() {{ kill -s $1 -- -$2 2>/dev/null; command -v pkill >/dev/null 2>&1 && pkill -$1 -s $2 2>/dev/null; }}; \
         T=; for p in {list}; do if alive $p; then T=\"$T $p\"; sig {first} $p; else echo \"$p GONE\"; fi; done; \
         i=0; while [ $i -lt {grace_tenths} ]; do a=; for p in $T; do alive $p && a=1; done; [ -z \"$a\" ] && break; \
         sleep 0.1 2>/dev/null || sleep 1; i=$((i+1)); done; \
         for p in $T; do if alive $p; then sig KILL $p; echo \"$p KILL\"; else echo \"$p {first}\"; fi; done"
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
mod tests;
