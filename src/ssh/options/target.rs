//! [`Target`]: the destination an agent names (`host`, `alias`, `user@host`, `user@[::1]`).
//!
//! ssh would read a destination that starts with `-` as an option (`-oProxyCommand=…` runs a
//! local command), and user config may splice `%h`/`%r` into commands, so a target is held to a
//! conservative character set. The argv builder also puts it after `--`.

use crate::ssh::InvalidInput;

/// A destination that is safe to hand to ssh after `--`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target(String);

const MAX_TARGET_LEN: usize = 255;

fn is_host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']' | '%' | '+')
}

fn is_user_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+')
}

impl Target {
    /// Parses agent input. Surrounding white space is trimmed, as the seed did.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let t = raw.trim();
        if t.is_empty() {
            return Err(InvalidInput::new(
                "'target' is required: name a host, alias or user@host",
            ));
        }
        crate::ssh::reject_control_chars("target", t)?;
        if t.starts_with('-') {
            return Err(InvalidInput(format!(
                "'target' {t:?} starts with '-', which ssh would read as an option; name a host, \
                 alias or user@host"
            )));
        }
        if t.len() > MAX_TARGET_LEN {
            return Err(InvalidInput(format!(
                "'target' is longer than {MAX_TARGET_LEN} characters"
            )));
        }
        let (user, host) = match t.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, t),
        };
        if let Some(user) = user
            && (user.is_empty() || user.starts_with('-') || !user.chars().all(is_user_char))
        {
            return Err(InvalidInput(format!(
                "'target' {t:?} has a user part ssh-mcp does not accept: use letters, digits, \
                     '.', '_', '+' and '-' (not first)"
            )));
        }
        if host.is_empty() || host.starts_with('-') || !host.chars().all(is_host_char) {
            return Err(InvalidInput(format!(
                "'target' {t:?} is not a host name, alias or address ssh-mcp accepts: use letters, \
                 digits and . - _ : [ ] % + (put a port in 'port', options in 'extra_ssh_args')"
            )));
        }
        Ok(Self(t.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_targets() {
        for t in [
            "web01",
            "user@host.example.com",
            "root@[::1]",
            "10.0.0.1",
            "a_b-c.d",
            " padded ",
        ] {
            assert!(Target::parse(t).is_ok(), "{t}");
        }
    }

    #[test]
    fn refuses_option_injection_and_shell_characters() {
        for t in [
            "-oProxyCommand=touch /tmp/x",
            "-V",
            " -p",
            "host;id",
            "host$(id)",
            "host`id`",
            "user@-host",
            "-user@host",
            "host name",
            "host\nname",
            "host\0",
            "a|b",
            "",
            "   ",
        ] {
            assert!(Target::parse(t).is_err(), "{t:?} was accepted");
        }
    }
}
