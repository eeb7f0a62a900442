//! `extra_ssh_args` → [`ExtraSshArgs`], through an allowlist, with ssh's own getopt reading.
//!
//! ssh reads `-vo ProxyCommand=x`, `-oProxyCommand=x`, `-o "ProxyCommand x"` and
//! `-o proxycommand=x` alike, so this module parses each element the way ssh's getopt does
//! (combined short flags, attached or separate values, any letter case for `-o` keys) and keeps
//! only options known to be safe. Everything else is refused with a message that names the
//! option and says why. What comes out is re-spelled canonically (`-o Key=value`) by the argv
//! builder, so ssh never sees the agent's spelling.

use super::allowlist::{
    ALLOWED_CONFIG, ALLOWED_FLAGS, ALLOWED_SHORT, REFUSED_CONFIG, ValueKind, allowed_summary,
    short_refusal, takes_value,
};
use crate::ssh::InvalidInput;
use ValueKind::*;

/// One validated option, in the form the argv builder emits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SshOption {
    /// A flag without a value, e.g. `-C` or `-v`.
    Flag(char),
    /// A short option with a value, e.g. `-J bastion`.
    Short { flag: char, value: String },
    /// A `-o Key=value` with the key in its canonical spelling.
    Config { key: &'static str, value: String },
}

/// The validated `extra_ssh_args` of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ExtraSshArgs(pub Vec<SshOption>);

impl ExtraSshArgs {
    /// Parses `extra_ssh_args` element by element, the way ssh's getopt would.
    pub fn parse(args: &[String]) -> Result<Self, InvalidInput> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            let at = format!("extra_ssh_args[{i}]");
            crate::ssh::reject_control_chars(&at, arg)?;
            if arg == "--" {
                return Err(InvalidInput(format!(
                    "{at}: '--' ends ssh's options, so what follows would become the destination or \
                     the command; extra_ssh_args may hold only options"
                )));
            }
            let Some(flags) = arg.strip_prefix('-').filter(|f| !f.is_empty()) else {
                return Err(InvalidInput(format!(
                    "{at}: {arg:?} is not an option; ssh would take a bare word as the destination \
                     or the command, so extra_ssh_args may hold only options ({})",
                    allowed_summary()
                )));
            };
            let chars = flags.char_indices();
            for (pos, flag) in chars {
                let Some(has_value) = takes_value(flag) else {
                    return Err(InvalidInput(format!(
                        "{at}: -{flag} is not an ssh option ({})",
                        allowed_summary()
                    )));
                };
                if !has_value {
                    if !ALLOWED_FLAGS.contains(&flag) {
                        return Err(refused_short(&at, flag));
                    }
                    out.push(SshOption::Flag(flag));
                    continue;
                }
                // A flag with a value takes the rest of this element, or the next element.
                let rest = &flags[pos + flag.len_utf8()..];
                let value = if !rest.is_empty() {
                    rest.to_owned()
                } else {
                    i += 1;
                    match args.get(i) {
                        Some(v) => {
                            crate::ssh::reject_control_chars(&format!("extra_ssh_args[{i}]"), v)?;
                            v.clone()
                        }
                        None => {
                            return Err(InvalidInput(format!(
                                "{at}: -{flag} needs a value after it"
                            )));
                        }
                    }
                };
                out.push(parse_valued(&at, flag, &value)?);
                break;
            }
            i += 1;
        }
        Ok(Self(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the agent set this `-o` key itself (so the daemon should not add its default).
    pub fn sets(&self, key: &str) -> bool {
        self.0
            .iter()
            .any(|o| matches!(o, SshOption::Config { key: k, .. } if k.eq_ignore_ascii_case(key)))
    }
}

fn refused_short(at: &str, flag: char) -> InvalidInput {
    InvalidInput(format!(
        "{at}: option -{flag} is not allowed ({}); {}",
        short_refusal(flag),
        allowed_summary()
    ))
}

fn parse_valued(at: &str, flag: char, value: &str) -> Result<SshOption, InvalidInput> {
    if flag == 'o' {
        return parse_config(at, value);
    }
    let Some((_, kind)) = ALLOWED_SHORT.iter().find(|(c, _)| *c == flag) else {
        return Err(refused_short(at, flag));
    };
    check_value(at, &format!("-{flag}"), *kind, value)?;
    Ok(SshOption::Short {
        flag,
        value: value.to_owned(),
    })
}

/// Reads one `-o` argument as ssh does: a keyword, then `=` or white space, then the value.
fn parse_config(at: &str, text: &str) -> Result<SshOption, InvalidInput> {
    let text = text.trim_start();
    let key_end = text
        .find(|c: char| c == '=' || c.is_whitespace())
        .unwrap_or(text.len());
    let key = &text[..key_end];
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(InvalidInput(format!(
            "{at}: -o {text:?} does not start with a plain option name; write -o Key=value ({})",
            allowed_summary()
        )));
    }
    let lower = key.to_ascii_lowercase();
    if let Some((_, why)) = REFUSED_CONFIG.iter().find(|(k, _)| *k == lower) {
        return Err(InvalidInput(format!(
            "{at}: option {key} is not allowed ({why}); {}",
            allowed_summary()
        )));
    }
    let Some((canonical, kind)) = ALLOWED_CONFIG
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
    else {
        return Err(InvalidInput(format!(
            "{at}: option {key} is not allowed (it is not on the allowlist of options known to be \
             safe); {}",
            allowed_summary()
        )));
    };
    let mut value = text[key_end..].trim_start();
    if let Some(v) = value.strip_prefix('=') {
        value = v.trim_start();
    }
    let value = value.trim_end();
    check_value(at, canonical, *kind, value)?;
    Ok(SshOption::Config {
        key: canonical,
        value: value.to_owned(),
    })
}

fn check_value(at: &str, name: &str, kind: ValueKind, value: &str) -> Result<(), InvalidInput> {
    let bad = |what: &str| InvalidInput(format!("{at}: {name} needs {what}, got {value:?}"));
    if value.is_empty() {
        return Err(bad("a value"));
    }
    if value
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '`' | '$' | ';'))
    {
        return Err(bad(
            "a single value without spaces, quotes or shell characters",
        ));
    }
    let host_ok = |h: &str| {
        !h.is_empty()
            && !h.starts_with('-')
            && h.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']' | '%')
            })
    };
    let user_ok = |u: &str| {
        !u.is_empty()
            && !u.starts_with('-')
            && u.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'))
    };
    match kind {
        YesNo if value.eq_ignore_ascii_case("yes") || value.eq_ignore_ascii_case("no") => Ok(()),
        YesNo => Err(bad("yes or no")),
        OneOf(words) if words.iter().any(|w| w.eq_ignore_ascii_case(value)) => Ok(()),
        OneOf(words) => Err(bad(&format!("one of {}", words.join(", ")))),
        Number if value.len() <= 9 && value.chars().all(|c| c.is_ascii_digit()) => Ok(()),
        Number => Err(bad("a whole number")),
        Host if host_ok(value) => Ok(()),
        Host => Err(bad("a host name or address")),
        User if user_ok(value) => Ok(()),
        User => Err(bad("a user name (letters, digits, . _ + -)")),
        Jump => {
            if value.eq_ignore_ascii_case("none") {
                return Ok(());
            }
            for hop in value.split(',') {
                let hop = hop.strip_prefix("ssh://").unwrap_or(hop);
                let (user, rest) = match hop.rsplit_once('@') {
                    Some((u, r)) => (Some(u), r),
                    None => (None, hop),
                };
                if user.is_some_and(|u| !user_ok(u)) || !host_ok(rest) {
                    return Err(bad("jump hosts as [user@]host[:port], separated by commas"));
                }
            }
            Ok(())
        }
        List if value.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | ',' | '+' | '^')
        }) =>
        {
            Ok(())
        }
        List => Err(bad("a comma-separated list of names")),
        Path if !value.starts_with('-') => Ok(()),
        Path => Err(bad("a file path")),
        Word if value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) =>
        {
            Ok(())
        }
        Word => Err(bad("a single word")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ExtraSshArgs, InvalidInput> {
        ExtraSshArgs::parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn safe_options_in_every_spelling() {
        let a = parse(&[
            "-J",
            "bastion",
            "-oConnectTimeout=5",
            "-o",
            "ServerAliveInterval 10",
            "-Cv",
            "-p2222",
        ])
        .unwrap();
        assert_eq!(
            a.0,
            vec![
                SshOption::Short {
                    flag: 'J',
                    value: "bastion".into()
                },
                SshOption::Config {
                    key: "ConnectTimeout",
                    value: "5".into()
                },
                SshOption::Config {
                    key: "ServerAliveInterval",
                    value: "10".into()
                },
                SshOption::Flag('C'),
                SshOption::Flag('v'),
                SshOption::Short {
                    flag: 'p',
                    value: "2222".into()
                },
            ]
        );
        let b = parse(&["-o", "connecttimeout = 7"]).unwrap();
        assert_eq!(
            b.0,
            vec![SshOption::Config {
                key: "ConnectTimeout",
                value: "7".into()
            }]
        );
    }

    #[test]
    fn dangerous_options_are_refused_in_every_spelling() {
        let cases: &[&[&str]] = &[
            &["-o", "ProxyCommand=touch /tmp/x"],
            &["-oProxyCommand=touch /tmp/x"],
            &["-o", "ProxyCommand touch /tmp/x"],
            &["-o", "proxycommand=x"],
            &["-o", " PROXYCOMMAND\t=x"],
            &["-vo", "ProxyCommand=x"],
            &["-voProxyCommand=x"],
            &["-F", "/tmp/evil"],
            &["-F/tmp/evil"],
            &["-vF/tmp/evil"],
            &["-L8080:h:80"],
            &["-NL", "1:h:2"],
            &["-D1080"],
            &["-Wh:22"],
            &["-oLocalCommand=x"],
            &["-oPermitLocalCommand=yes"],
            &["-oKnownHostsCommand=x"],
            &["-oPKCS11Provider=/x.so"],
            &["-I/x.so"],
            &["-oSecurityKeyProvider=/x.so"],
            &["-E/tmp/log"],
            &["-S/tmp/ctl"],
            &["-oControlPath=/tmp/x"],
            &["-A"],
            &["-X"],
            &["-oForwardAgent=yes"],
            &["-oInclude=/etc/passwd"],
            &["-o", "\"ProxyCommand\" x"],
            &["-o", "ProxyJump=-oProxyCommand=x"],
            &["-J", "a;touch /tmp/x"],
            &["-o", "User=$(id)"],
            &["hostname"],
            &["--"],
            &["-p"],
            &["-f"],
            &["-oUserKnownHostsFile=/tmp/x"],
        ];
        for case in cases {
            assert!(parse(case).is_err(), "{case:?} was accepted");
        }
    }

    #[test]
    fn refusal_names_the_option_and_the_reason() {
        let err = parse(&["-o", "ProxyCommand=x"]).unwrap_err().to_string();
        assert!(
            err.contains("ProxyCommand")
                && err.contains("runs a local command")
                && err.contains("allowed:"),
            "{err}"
        );
    }
}
