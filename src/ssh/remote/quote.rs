//! Quoting for a POSIX remote shell, and the validated pieces that get quoted: environment
//! variables, the working directory and the shell program.
//!
//! sshd hands the remote command string to the user's login shell, so every piece of agent input
//! that ends up in it is single-quoted here; nothing is spliced in raw except `command` itself.

use crate::ssh::{InvalidInput, reject_control_chars};

/// Quotes `s` for a POSIX shell: as-is when it holds only characters no shell treats specially,
/// else in single quotes with each `'` written as `'"'"'`.
pub fn sh_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '_' | '@' | '%' | '+' | '=' | ':' | ',' | '.' | '/' | '-')
        });
    if plain {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\"'\"'");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// The line that starts a script working in `dir` (a path as the agent gave it, relative to the
/// home), or ends it with `status` when `dir` cannot be entered: `cd -- <dir> || exit <status>`.
/// A relative `dir` goes to `cd` as `./dir`: `cd -- -` would be `$OLDPWD`, and a bare name is
/// looked up in `$CDPATH` (and the directory found printed on stdout).
pub fn cd_or_exit(dir: &str, status: i32) -> String {
    let dir = if dir.starts_with('/') {
        dir.to_owned()
    } else {
        format!("./{dir}")
    };
    format!("cd -- {} || exit {status}\n", sh_quote(&dir))
}

/// A remote environment variable with a valid name (`^[A-Za-z_][A-Za-z0-9_]*$`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    name: String,
    value: String,
}

impl EnvVar {
    pub fn parse(name: &str, value: &str) -> Result<Self, InvalidInput> {
        let mut chars = name.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(InvalidInput(format!(
                "environment variable name {name:?} in 'env' must match ^[A-Za-z_][A-Za-z0-9_]*$"
            )));
        }
        if value.contains('\0') {
            return Err(InvalidInput(format!(
                "environment variable '{name}' in 'env' contains a NUL byte"
            )));
        }
        Ok(Self {
            name: name.to_owned(),
            value: value.to_owned(),
        })
    }

    /// `export NAME='value'`
    pub fn export_statement(&self) -> String {
        format!("export {}={}", self.name, sh_quote(&self.value))
    }
}

/// The remote working directory. `~` and `~/…` mean the remote home directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteDir(String);

impl RemoteDir {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let dir = raw.trim();
        if dir.is_empty() {
            return Err(InvalidInput::new(
                "'cwd' must not be empty; leave it out to use the login directory",
            ));
        }
        reject_control_chars("cwd", dir)?;
        Ok(Self(dir.to_owned()))
    }

    /// The shell word for `cd`, expanding a leading `~` through `$HOME` and quoting the rest.
    pub fn shell_word(&self) -> String {
        if self.0 == "~" {
            return "\"$HOME\"".to_owned();
        }
        if let Some(rest) = self.0.strip_prefix("~/") {
            return format!("\"$HOME\"/{}", sh_quote(rest));
        }
        // `cd -x` would read -x as an option.
        if self.0.starts_with('-') {
            return sh_quote(&format!("./{}", self.0));
        }
        sh_quote(&self.0)
    }
}

/// The remote shell program that wraps the command (`sh`, `bash`, `/usr/bin/zsh`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteShell(String);

impl RemoteShell {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let shell = raw.trim();
        if shell.is_empty() {
            return Err(InvalidInput::new(
                "'shell' must not be empty; leave it out to use sh",
            ));
        }
        reject_control_chars("shell", shell)?;
        Ok(Self(shell.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "the tests run sh to check the quoting"
)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips_through_sh() {
        for s in [
            "plain",
            "two words",
            "it's",
            "$(id)",
            "`id`",
            "a\"b",
            "\\",
            "",
            "new\nline",
            "*",
            "-x",
        ] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", sh_quote(s)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), s, "{s:?}");
        }
    }

    #[test]
    fn env_names_are_validated() {
        assert!(EnvVar::parse("GOOD_1", "v").is_ok());
        assert!(EnvVar::parse("_x", "v").is_ok());
        for bad in ["1X", "A-B", "A B", "", "A;B", "A=B", "$X", "Ä"] {
            assert!(EnvVar::parse(bad, "v").is_err(), "{bad:?}");
        }
        assert!(EnvVar::parse("X", "a\0b").is_err());
    }

    #[test]
    fn a_scripts_cd_quotes_the_directory_and_never_reads_it_as_an_option() {
        assert_eq!(
            cd_or_exit("it's a dir", 21),
            "cd -- './it'\"'\"'s a dir' || exit 21\n"
        );
        assert_eq!(cd_or_exit("-", 26), "cd -- ./- || exit 26\n");
        assert_eq!(cd_or_exit("/abs", 1), "cd -- /abs || exit 1\n");
    }

    #[test]
    fn cwd_expands_tilde_through_home() {
        assert_eq!(RemoteDir::parse("~").unwrap().shell_word(), "\"$HOME\"");
        assert_eq!(
            RemoteDir::parse("~/a b").unwrap().shell_word(),
            "\"$HOME\"/'a b'"
        );
        assert_eq!(RemoteDir::parse("/tmp/x").unwrap().shell_word(), "/tmp/x");
        assert_eq!(RemoteDir::parse("-P").unwrap().shell_word(), "./-P");
    }
}
