//! `extra_ssh_args` → [`ExtraSshArgs`], through an allowlist, with ssh's own getopt reading.
//!
//! ssh reads `-vo ProxyCommand=x`, `-oProxyCommand=x`, `-o "ProxyCommand x"` and
//! `-o proxycommand=x` alike, so this module parses each element the way ssh's getopt does
//! (combined short flags, attached or separate values, any letter case for `-o` keys) and keeps
//! only options known to be safe. Everything else is refused with a message that names the
//! option and says why. What comes out is re-spelled canonically (`-o Key=value`) by the argv
//! builder, so ssh never sees the agent's spelling.

use super::InvalidInput;

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

/// What a value may look like, per option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueKind {
    /// yes | no
    YesNo,
    /// A fixed set of words (case-insensitive).
    OneOf(&'static [&'static str]),
    /// A whole number.
    Number,
    /// A host name or address.
    Host,
    /// A user name.
    User,
    /// Comma-separated `[user@]host[:port]` hops, or `none`.
    Jump,
    /// A comma-separated list of algorithm or method names.
    List,
    /// A local file path (read by ssh, never written).
    Path,
    /// A short word such as a network interface name or QoS class.
    Word,
}

use ValueKind::*;

/// `-o` keys that may be set, with their canonical spelling and value kind.
const ALLOWED_CONFIG: &[(&str, ValueKind)] = &[
    ("AddressFamily", OneOf(&["any", "inet", "inet6"])),
    ("BatchMode", YesNo),
    ("BindAddress", Host),
    ("BindInterface", Word),
    ("CASignatureAlgorithms", List),
    ("CertificateFile", Path),
    ("CheckHostIP", YesNo),
    ("Ciphers", List),
    ("Compression", YesNo),
    ("ConnectionAttempts", Number),
    ("ConnectTimeout", Number),
    ("FingerprintHash", OneOf(&["md5", "sha256"])),
    ("GSSAPIAuthentication", YesNo),
    ("HashKnownHosts", YesNo),
    ("HostKeyAlgorithms", List),
    ("HostKeyAlias", Host),
    ("HostName", Host),
    ("IdentitiesOnly", YesNo),
    ("IdentityFile", Path),
    ("IPQoS", Word),
    ("KbdInteractiveAuthentication", YesNo),
    ("KexAlgorithms", List),
    (
        "LogLevel",
        OneOf(&[
            "quiet", "fatal", "error", "info", "verbose", "debug", "debug1", "debug2", "debug3",
        ]),
    ),
    ("MACs", List),
    ("NumberOfPasswordPrompts", Number),
    ("PasswordAuthentication", YesNo),
    ("Port", Number),
    ("PreferredAuthentications", List),
    ("ProxyJump", Jump),
    ("PubkeyAcceptedAlgorithms", List),
    ("PubkeyAcceptedKeyTypes", List),
    ("PubkeyAuthentication", YesNo),
    ("RequiredRSASize", Number),
    ("ServerAliveCountMax", Number),
    ("ServerAliveInterval", Number),
    (
        "StrictHostKeyChecking",
        OneOf(&["yes", "no", "ask", "accept-new", "off"]),
    ),
    ("TCPKeepAlive", YesNo),
    ("UpdateHostKeys", OneOf(&["yes", "no", "ask"])),
    ("User", User),
    ("VerifyHostKeyDNS", OneOf(&["yes", "no", "ask"])),
    ("VisualHostKey", YesNo),
];

/// `-o` keys refused with a specific reason (the rest are refused as not on the allowlist).
const REFUSED_CONFIG: &[(&str, &str)] = &[
    ("proxycommand", "it runs a local command"),
    ("localcommand", "it runs a local command"),
    ("permitlocalcommand", "it lets ssh run local commands"),
    ("knownhostscommand", "it runs a local command"),
    (
        "remotecommand",
        "it replaces the command ssh-mcp runs; use 'command'",
    ),
    (
        "proxyusefdpass",
        "it belongs to ProxyCommand, which runs a local command",
    ),
    ("pkcs11provider", "it loads a local shared library"),
    ("securitykeyprovider", "it loads a local shared library"),
    (
        "include",
        "it reads other config files (an operator can set SSH_MCP_SSH_CONFIG)",
    ),
    (
        "match",
        "it evaluates config conditions, which can run local commands",
    ),
    ("host", "it starts a config block"),
    (
        "localforward",
        "it opens a forward; use the ssh_forward tool",
    ),
    (
        "remoteforward",
        "it opens a forward; use the ssh_forward tool",
    ),
    (
        "dynamicforward",
        "it opens a forward; use the ssh_forward tool",
    ),
    ("gatewayports", "it exposes forwards to other hosts"),
    (
        "exitonforwardfailure",
        "it belongs to forwards; use the ssh_forward tool",
    ),
    (
        "clearallforwardings",
        "it belongs to forwards; use the ssh_forward tool",
    ),
    (
        "permitremoteopen",
        "it belongs to forwards; use the ssh_forward tool",
    ),
    (
        "streamlocalbindmask",
        "it belongs to forwards; use the ssh_forward tool",
    ),
    (
        "streamlocalbindunlink",
        "it belongs to forwards; use the ssh_forward tool",
    ),
    ("tunnel", "it opens a network tunnel device"),
    ("tunneldevice", "it opens a network tunnel device"),
    ("controlmaster", "the daemon owns connection multiplexing"),
    ("controlpath", "the daemon owns connection multiplexing"),
    ("controlpersist", "the daemon owns connection multiplexing"),
    (
        "forwardagent",
        "it exposes your local ssh-agent to the remote host",
    ),
    ("identityagent", "it points ssh at another agent socket"),
    ("addkeystoagent", "it changes your local ssh-agent"),
    (
        "forwardx11",
        "it exposes your local display to the remote host",
    ),
    (
        "forwardx11trusted",
        "it exposes your local display to the remote host",
    ),
    ("xauthlocation", "it runs a local program"),
    ("sendenv", "it sends local environment variables; use 'env'"),
    (
        "setenv",
        "it sets remote environment variables outside 'env'; use 'env'",
    ),
    (
        "userknownhostsfile",
        "it reads and writes a local file; use 'known_hosts_file'",
    ),
    (
        "globalknownhostsfile",
        "it reads a local file; use 'known_hosts_file'",
    ),
    ("revokedhostkeys", "it reads a local file"),
    (
        "requesttty",
        "the daemon decides about terminals; use 'tty'",
    ),
    ("sessiontype", "it changes how the daemon runs ssh"),
    ("stdinnull", "it changes how the daemon runs ssh"),
    (
        "forkafterauthentication",
        "it backgrounds ssh out of the daemon's reach",
    ),
    ("escapechar", "it changes how the daemon runs ssh"),
    (
        "enableescapecommandline",
        "it opens ssh's local command line",
    ),
];

/// Short flags ssh knows, with whether they take a value (ssh's getopt string).
const SSH_OPTSTRING: &str = "1246ab:c:e:fgi:kl:m:no:p:qstvxAB:CD:E:F:GI:J:KL:MNO:P:Q:R:S:TVw:W:XYy";

/// Short flags allowed without a value.
const ALLOWED_FLAGS: &[char] = &['4', '6', 'C', 'q', 'v', 'a', 'x', 'k'];

/// Short flags allowed with a value, and what the value must be.
const ALLOWED_SHORT: &[(char, ValueKind)] = &[
    ('b', Host),
    ('B', Word),
    ('c', List),
    ('i', Path),
    ('J', Jump),
    ('l', User),
    ('m', List),
    ('p', Number),
];

fn short_refusal(flag: char) -> &'static str {
    match flag {
        'L' | 'R' | 'D' | 'W' => "it opens a forward; use the ssh_forward tool",
        'w' => "it opens a network tunnel device",
        'F' => "it reads another config file (an operator can set SSH_MCP_SSH_CONFIG)",
        'E' => "it writes a local log file",
        'S' | 'M' | 'O' => "the daemon owns connection multiplexing",
        'A' => "it exposes your local ssh-agent to the remote host",
        'X' | 'Y' => "it exposes your local display to the remote host",
        'I' => "it loads a local PKCS#11 library",
        'K' => "it delegates your GSSAPI credentials",
        'f' => "it backgrounds ssh out of the daemon's reach",
        'N' | 'n' | 's' | 't' | 'T' => "the daemon decides how ssh runs the command; use 'tty'",
        'G' | 'V' | 'Q' => "it makes ssh print information instead of connecting",
        'P' => "it selects config blocks by tag",
        'e' => "it changes ssh's escape character",
        'g' => "it exposes forwards to other hosts",
        'y' => "it redirects ssh's logging",
        _ => "it is not on the allowlist",
    }
}

fn allowed_summary() -> String {
    let shorts: Vec<String> = ALLOWED_FLAGS
        .iter()
        .map(|c| format!("-{c}"))
        .chain(ALLOWED_SHORT.iter().map(|(c, _)| format!("-{c}")))
        .collect();
    let keys: Vec<&str> = ALLOWED_CONFIG.iter().map(|(k, _)| *k).collect();
    format!(
        "allowed: {} and -o with {}",
        shorts.join(" "),
        keys.join(", ")
    )
}

fn takes_value(flag: char) -> Option<bool> {
    let mut chars = SSH_OPTSTRING.chars().peekable();
    while let Some(c) = chars.next() {
        let has_arg = chars.peek() == Some(&':');
        if has_arg {
            chars.next();
        }
        if c == flag {
            return Some(has_arg);
        }
    }
    None
}

impl ExtraSshArgs {
    /// Parses `extra_ssh_args` element by element, the way ssh's getopt would.
    pub fn parse(args: &[String]) -> Result<Self, InvalidInput> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            let at = format!("extra_ssh_args[{i}]");
            super::reject_control_chars(&at, arg)?;
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
                            super::reject_control_chars(&format!("extra_ssh_args[{i}]"), v)?;
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
