//! Handing a POSIX script to a remote account whatever its login shell is. sshd runs every remote
//! command as `<login shell> -c <command>`, and the login shell may be bash, dash, zsh, fish or
//! tcsh, which agree on little: `$$` is an error in fish, `>&2` writes a file named `2` in tcsh.
//! [`for_any_login_shell`] turns a script into `sh -c '<payload>'`, a line that all five read as
//! "run sh with this argument", with the argument unchanged.
//!
//! Inside single quotes all five keep printable ASCII as it is, except `'`, `!` (tcsh expands
//! history even there) and `\` (fish reads `\\` and `\'` as escapes; a `\` before a digit stays
//! in every one of them). A newline inside quotes is an error in tcsh. The tests below check this
//! against the real shells.

/// `sh -c '<payload>'`, read the same by bash, dash, zsh, fish and tcsh, that runs `script` in
/// sh. A script made only of bytes every shell keeps inside single quotes goes as it is; any
/// other goes as octal escapes (`\047` for `'`) in a printf format that sh decodes and evaluates,
/// which costs sh one more fork. A trailing newline of such a script is dropped (command
/// substitution does that), which changes nothing unless the script ends inside quotes.
pub fn for_any_login_shell(script: &str) -> String {
    if keeps_in_single_quotes(script) {
        format!("sh -c '{script}'")
    } else {
        format!("sh -c 'eval \"$(printf \"{}\")\"'", printf_octal(script))
    }
}

/// Whether every login shell passes `script` through single quotes unchanged.
fn keeps_in_single_quotes(script: &str) -> bool {
    let bytes = script.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| match b {
        b'\'' | b'!' => false,
        b'\\' => bytes.get(i + 1).is_some_and(u8::is_ascii_digit),
        b => (0x20..0x7f).contains(&b),
    })
}

/// `script` as a printf format inside sh's double quotes, inside single quotes of any login shell:
/// bytes special to any of those three, control and non-ASCII bytes become three-digit octal
/// escapes (three digits, so that a digit after one is not read as part of it).
fn printf_octal(script: &str) -> String {
    let mut out = String::with_capacity(script.len() + script.len() / 4);
    for (i, &b) in script.as_bytes().iter().enumerate() {
        let special = matches!(b, b'\'' | b'!' | b'\\' | b'"' | b'$' | b'`' | b'%')
            // printf would take a leading `-` for an option.
            || (i == 0 && b == b'-');
        if (0x20..0x7f).contains(&b) && !special {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\{b:03o}"));
        }
    }
    out
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "the tests run the real shells to check what they read"
)]
pub(crate) mod tests {
    use super::*;

    /// The login shells ssh-mcp must work under. They are installed by scripts/test.sh.
    pub(crate) const LOGIN_SHELLS: &[&str] = &["sh", "dash", "bash", "zsh", "fish", "tcsh"];

    /// Runs `line` as sshd would with `shell` as the login shell: `<shell> -c <line>` as the
    /// leader of a new process group, in a scratch home so that no rc file of this machine takes
    /// part. Returns the login shell's pid and what it wrote.
    pub(crate) fn run_as_login_shell(shell: &str, line: &str) -> (u32, std::process::Output) {
        use std::os::unix::process::CommandExt;
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let home =
            std::env::temp_dir().join(format!("ssh-mcp-login-shell-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&home).unwrap();
        let child = std::process::Command::new(shell)
            .arg("-c")
            .arg(line)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &home)
            .current_dir(&home)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("{shell} runs (scripts/test.sh installs it): {e}"));
        let pid = child.id();
        let out = child.wait_with_output().unwrap();
        let _ = std::fs::remove_dir_all(&home);
        (pid, out)
    }

    /// Scripts that print their own text when run: `printf %s '<s>'` for `s` in the set.
    const TRICKY: &[&str] = &[
        "plain words",
        "it's",
        "a\"b",
        "back\\slash \\\\ \\0 \\n \\'",
        "$HOME $$ $(id) `id` ${x:-y}",
        "100% %s %d %%",
        "bang! !! !$ !-1",
        "new\nline\n\ntwo",
        "\ttab\r\x01\x1b[0m\x7f",
        "é€日本🚀",
        "-n",
        "~ * ? [a] {a,b} # ; & | < > ( )",
        "^a^b",
        "trailing newline\n",
    ];

    fn single_quoted(s: &str) -> String {
        format!("'{}'", s.replace('\'', "'\"'\"'"))
    }

    #[test]
    fn scripts_reach_sh_unchanged_under_every_login_shell() {
        for text in TRICKY {
            let script = format!("printf %s {}; printf '|%s' \"$0\"", single_quoted(text));
            let line = for_any_login_shell(&script);
            for shell in LOGIN_SHELLS {
                let (_, out) = run_as_login_shell(shell, &line);
                assert_eq!(
                    String::from_utf8_lossy(&out.stdout),
                    format!("{text}|sh"),
                    "{shell} -c {line:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                assert!(out.status.success(), "{shell}: {line:?}");
            }
        }
    }

    #[test]
    fn plain_scripts_go_as_they_are_and_others_are_encoded() {
        assert_eq!(
            for_any_login_shell("echo \"$$\" \\036 >&2"),
            "sh -c 'echo \"$$\" \\036 >&2'"
        );
        for script in ["it's", "a!", "\\n", "a\nb", "é", "\\"] {
            let line = for_any_login_shell(script);
            assert!(line.starts_with("sh -c 'eval "), "{script:?}: {line}");
            // Only the outer quotes, and backslashes only before digits.
            assert_eq!(line.matches('\'').count(), 2, "{line}");
            assert!(!line.contains('!') && !line.contains('\n'), "{line}");
        }
        assert_eq!(printf_octal("-x%"), "\\055x\\045");
    }

    #[test]
    fn exit_status_and_stderr_pass_through() {
        let line = for_any_login_shell("echo 'to stderr' >&2; exit 7");
        for shell in LOGIN_SHELLS {
            let (_, out) = run_as_login_shell(shell, &line);
            assert_eq!(out.status.code(), Some(7), "{shell}");
            assert_eq!(out.stderr, b"to stderr\n", "{shell}");
        }
    }
}
