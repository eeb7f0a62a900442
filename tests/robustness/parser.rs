//! Property tests of the `extra_ssh_args` allowlist, with thousands of generated inputs and no
//! daemon:
//!
//! - every spelling of a dangerous option (any letter case, `=` or spaces, attached values,
//!   bundled short flags) is refused by `ExtraSshArgs::parse`;
//! - whatever it accepts reads, under an independent model of ssh's getopt, as exactly the
//!   options it returned, and the argv builder renders it, in the command line of the
//!   ControlMaster (the ssh that connects, and so the one whose options matter), as allowlisted
//!   options only.

use std::path::{Path, PathBuf};

use ssh_mcp_core::ssh::argv::SshSettings;
use ssh_mcp_core::ssh::argv::master::control_master;
use ssh_mcp_core::ssh::options::connection::{Connection, RawConnection};
use ssh_mcp_core::ssh::options::extra_ssh_args::{ExtraSshArgs, SshOption};

use super::Rng;

/// OpenSSH's getopt string for ssh (ssh.c), written down here independently of the product.
const SSH_OPTSTRING: &str = "1246ab:c:e:fgi:kl:m:no:p:qstvxAB:CD:E:F:GI:J:KL:MNO:P:Q:R:S:TVw:W:XYy";

/// `-o` keys that run local commands, load libraries, read other config, touch local files,
/// open forwards, or take over what the daemon owns.
const DANGEROUS_KEYS: &[&str] = &[
    "ProxyCommand",
    "LocalCommand",
    "PermitLocalCommand",
    "KnownHostsCommand",
    "PKCS11Provider",
    "SecurityKeyProvider",
    "Include",
    "Match",
    "Host",
    "BatchMode",
    "ControlPath",
    "ControlMaster",
    "ControlPersist",
    "LocalForward",
    "RemoteForward",
    "DynamicForward",
    "GatewayPorts",
    "Tunnel",
    "TunnelDevice",
    "ForwardAgent",
    "IdentityAgent",
    "AddKeysToAgent",
    "ForwardX11",
    "ForwardX11Trusted",
    "XAuthLocation",
    "SendEnv",
    "SetEnv",
    "UserKnownHostsFile",
    "GlobalKnownHostsFile",
    "RevokedHostKeys",
    "RemoteCommand",
    "ProxyUseFdpass",
    "RequestTTY",
    "SessionType",
    "StdinNull",
    "ForkAfterAuthentication",
    "EscapeChar",
    "EnableEscapeCommandline",
    "ExitOnForwardFailure",
    "ClearAllForwardings",
    "PermitRemoteOpen",
    "StreamLocalBindMask",
    "StreamLocalBindUnlink",
    "IgnoreUnknown",
];

/// The `-o` keys the contract allows (DESIGN.md: jump hosts, ciphers, timeouts, keepalives,
/// ports, users, identity files, …).
const ALLOWED_KEYS: &[&str] = &[
    "AddressFamily",
    "BindAddress",
    "BindInterface",
    "CASignatureAlgorithms",
    "CertificateFile",
    "CheckHostIP",
    "Ciphers",
    "Compression",
    "ConnectionAttempts",
    "ConnectTimeout",
    "FingerprintHash",
    "GSSAPIAuthentication",
    "HashKnownHosts",
    "HostKeyAlgorithms",
    "HostKeyAlias",
    "HostName",
    "IdentitiesOnly",
    "IdentityFile",
    "IPQoS",
    "KbdInteractiveAuthentication",
    "KexAlgorithms",
    "LogLevel",
    "MACs",
    "NumberOfPasswordPrompts",
    "PasswordAuthentication",
    "Port",
    "PreferredAuthentications",
    "ProxyJump",
    "PubkeyAcceptedAlgorithms",
    "PubkeyAcceptedKeyTypes",
    "PubkeyAuthentication",
    "RequiredRSASize",
    "ServerAliveCountMax",
    "ServerAliveInterval",
    "StrictHostKeyChecking",
    "TCPKeepAlive",
    "UpdateHostKeys",
    "User",
    "VerifyHostKeyDNS",
    "VisualHostKey",
];

/// Short flags that must never reach ssh from an agent.
const FORBIDDEN_FLAGS: &[char] = &[
    'F', 'E', 'S', 'L', 'R', 'D', 'W', 'w', 'A', 'X', 'Y', 'I', 'f', 'M', 'O',
];
/// Short flags an agent may pass, without and with a value.
const ALLOWED_BARE_FLAGS: &[char] = &['4', '6', 'C', 'q', 'v', 'a', 'x', 'k'];
const ALLOWED_VALUED_FLAGS: &[char] = &['b', 'B', 'c', 'i', 'J', 'l', 'm', 'p', 'o'];

const DANGEROUS_VALUES: &[&str] = &[
    "touch /tmp/robustness-pwned",
    "/tmp/evil.so",
    "yes",
    "none",
    "sh -c id",
    "8080:localhost:80",
    "/tmp/evil.conf",
    "x",
];

/// One option as ssh's getopt reads it: the flag and its value, if it takes one.
type Opt = (char, Option<String>);

/// Where ssh's getopt takes an option's value from, per flag; `None` for unknown flags.
fn ssh_takes_value(flag: char) -> Option<bool> {
    let bytes: Vec<char> = SSH_OPTSTRING.chars().collect();
    let at = bytes.iter().position(|c| *c == flag && flag != ':')?;
    Some(bytes.get(at + 1) == Some(&':'))
}

/// Reads `args` as ssh's getopt would until `--` or the first operand. Returns the options
/// and the index of the first argument that is not an option.
fn ssh_getopt<S: AsRef<str>>(args: &[S]) -> Result<(Vec<Opt>, usize), String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_ref();
        if arg == "--" {
            return Ok((out, i + 1));
        }
        let Some(flags) = arg.strip_prefix('-').filter(|f| !f.is_empty()) else {
            return Ok((out, i));
        };
        for (pos, flag) in flags.char_indices() {
            match ssh_takes_value(flag) {
                None => return Err(format!("ssh does not know -{flag}")),
                Some(false) => out.push((flag, None)),
                Some(true) => {
                    let rest = &flags[pos + flag.len_utf8()..];
                    let value = if rest.is_empty() {
                        i += 1;
                        args.get(i)
                            .ok_or_else(|| format!("-{flag} without a value"))?
                            .as_ref()
                            .to_owned()
                    } else {
                        rest.to_owned()
                    };
                    out.push((flag, Some(value)));
                    break;
                }
            }
        }
        i += 1;
    }
    Ok((out, i))
}

/// The keyword ssh reads from a `-o` argument: after leading white space, up to white space,
/// `=` or a quote.
fn ssh_config_key(text: &str) -> &str {
    let t = text.trim_start_matches([' ', '\t']);
    let end = t
        .find(|c: char| c.is_whitespace() || c == '=' || c == '"')
        .unwrap_or(t.len());
    &t[..end]
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// A run of 0..=3 harmless bare flags, to bundle before another flag.
fn bare_bundle(rng: &mut Rng) -> String {
    (0..rng.below(4))
        .map(|_| *rng.pick(ALLOWED_BARE_FLAGS))
        .collect()
}

/// One dangerous option in one of ssh's spellings; returns the elements and what it sets.
fn dangerous_spelling(rng: &mut Rng) -> (Vec<String>, String) {
    if rng.percent(60) {
        let key = rng.pick(DANGEROUS_KEYS).to_string();
        let spelled = rng.random_case(&key);
        let sep = *rng.pick(&["=", " ", " = ", "  ", "= ", " =", "\t", "=\t", "=="]);
        let lead = *rng.pick(&["", "", " ", "\t"]);
        let text = format!("{lead}{spelled}{sep}{}", rng.pick(DANGEROUS_VALUES));
        let bundle = bare_bundle(rng);
        let args = match rng.below(4) {
            0 => vec![format!("-{bundle}o"), text],
            1 => vec![format!("-{bundle}o{text}")],
            2 => vec!["-o".into(), text],
            _ => vec![format!("-o{text}")],
        };
        (args, key)
    } else {
        let flag = *rng.pick(FORBIDDEN_FLAGS);
        let bundle = bare_bundle(rng);
        let args = if ssh_takes_value(flag) == Some(true) {
            let value = rng.pick(DANGEROUS_VALUES).to_string();
            if rng.percent(50) {
                vec![format!("-{bundle}{flag}"), value]
            } else {
                vec![format!("-{bundle}{flag}{value}")]
            }
        } else {
            // A bare flag may sit anywhere in a bundle.
            vec![format!("-{bundle}{flag}{}", bare_bundle(rng))]
        };
        (args, format!("-{flag}"))
    }
}

/// Complete, harmless options to surround a dangerous one with.
fn harmless_option(rng: &mut Rng) -> Vec<String> {
    match rng.below(6) {
        0 => vec![format!("-{}", rng.pick(ALLOWED_BARE_FLAGS))],
        1 => strings(&["-p", "2222"]),
        2 => strings(&["-oConnectTimeout=5"]),
        3 => strings(&["-o", "ServerAliveInterval 10"]),
        4 => strings(&["-J", "user@bastion:22"]),
        _ => strings(&["-Cvl", "deploy"]),
    }
}

#[test]
fn every_spelling_of_a_dangerous_ssh_option_is_refused() {
    let mut rng = Rng::for_test(0x5EED_0003);
    let seed = rng.seed();
    let mut seen_keys = std::collections::BTreeSet::new();
    for case in 0..8000 {
        let (dangerous, what) = dangerous_spelling(&mut rng);
        let mut args = Vec::new();
        for _ in 0..rng.below(3) {
            args.extend(harmless_option(&mut rng));
        }
        args.extend(dangerous);
        for _ in 0..rng.below(3) {
            args.extend(harmless_option(&mut rng));
        }
        match ExtraSshArgs::parse(&args) {
            Ok(parsed) => {
                panic!("seed {seed} case {case}: {args:?} (sets {what}) was accepted as {parsed:?}")
            }
            Err(e) => assert!(
                e.to_string().contains("extra_ssh_args["),
                "seed {seed} case {case}: {args:?}: the refusal does not name the element: {e}"
            ),
        }
        seen_keys.insert(what);
    }
    // The generator really covered every key and flag.
    for key in DANGEROUS_KEYS {
        assert!(seen_keys.contains(*key), "seed {seed}: never tried {key}");
    }
    for flag in FORBIDDEN_FLAGS {
        assert!(
            seen_keys.contains(&format!("-{flag}")),
            "seed {seed}: never tried -{flag}"
        );
    }
}

/// A random element for the accepted-input property: mostly plausible options, some hostile.
fn soup_token(rng: &mut Rng) -> Vec<String> {
    const VALUES: &[&str] = &[
        "5",
        "yes",
        "no",
        "bastion",
        "user@jump:22",
        "ssh://u@h:2,other",
        "aes128-ctr,chacha20-poly1305@openssh.com",
        "/tmp/id_ed25519",
        "~/.ssh/id",
        "none",
        "inet",
        "sha256",
        "eth0",
        "-x",
        "-oProxyCommand=x",
        "a b",
        "$(id)",
        "x;y",
        "`id`",
        "%h",
        "\"q\"",
        "'q'",
        "a\\b",
        "[::1]:22",
        "",
    ];
    let value = rng.pick(VALUES).to_string();
    match rng.below(10) {
        0..=2 => {
            let key = if rng.percent(80) {
                rng.pick(ALLOWED_KEYS).to_string()
            } else if rng.percent(70) {
                rng.pick(DANGEROUS_KEYS).to_string()
            } else {
                rng.string_from(&['a', 'Z', '1', '-', '_', '.', 'é'], 1, 8)
            };
            let key = rng.random_case(&key);
            let sep = *rng.pick(&["=", " ", " = ", "  ", "= "]);
            let text = format!("{key}{sep}{value}");
            let bundle = bare_bundle(rng);
            match rng.below(3) {
                0 => vec![format!("-{bundle}o"), text],
                1 => vec![format!("-{bundle}o{text}")],
                _ => vec!["-o".into(), text],
            }
        }
        3..=5 => {
            let flag = if rng.percent(85) {
                *rng.pick(ALLOWED_VALUED_FLAGS)
            } else {
                *rng.pick(&[
                    'F', 'E', 'S', 'L', 'R', 'D', 'W', 'w', 'I', 'O', 'e', 'P', 'Q',
                ])
            };
            let bundle = bare_bundle(rng);
            if rng.percent(50) {
                vec![format!("-{bundle}{flag}"), value]
            } else {
                vec![format!("-{bundle}{flag}{value}")]
            }
        }
        6..=8 => {
            let pool: Vec<char> = SSH_OPTSTRING.chars().filter(|c| *c != ':').collect();
            let mut s = bare_bundle(rng);
            if rng.percent(20) {
                s.push(*rng.pick(&pool));
            }
            if s.is_empty() {
                s.push('C');
            }
            vec![format!("-{s}")]
        }
        _ => vec![
            rng.pick(&["host", "--", "-", "", "-Z", "-ü", "--verbose"])
                .to_string(),
        ],
    }
}

pub fn settings() -> SshSettings {
    SshSettings {
        ssh: PathBuf::from("/usr/bin/ssh"),
        config_file: None,
        connect_timeout_secs: 10,
        keepalive_interval_secs: 15,
    }
}

/// Checks one rendered option that came from the agent; returns why it is not allowed.
fn agent_option_problem(flag: char, value: Option<&str>) -> Option<String> {
    if FORBIDDEN_FLAGS.contains(&flag) {
        return Some(format!("forbidden flag -{flag}"));
    }
    let Some(value) = value else {
        return (!ALLOWED_BARE_FLAGS.contains(&flag))
            .then(|| format!("flag -{flag} is not allowed"));
    };
    if !ALLOWED_VALUED_FLAGS.contains(&flag) {
        return Some(format!("flag -{flag} is not allowed"));
    }
    if value.chars().any(|c| {
        c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\' | '`' | '$' | ';')
    }) {
        return Some(format!(
            "-{flag} {value:?}: ssh would split or expand this value"
        ));
    }
    let jump_ok = |v: &str| {
        v.split(',').all(|hop| {
            let hop = hop.strip_prefix("ssh://").unwrap_or(hop);
            !hop.is_empty()
                && !hop.starts_with('-')
                && !hop.contains("@-")
                && hop
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._:%[]@+-".contains(c))
        })
    };
    match flag {
        'J' if !v_is_none(value) && !jump_ok(value) => {
            Some(format!("-J {value:?}: not a list of hosts"))
        }
        'o' => {
            let key = ssh_config_key(value);
            if !ALLOWED_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key)) {
                return Some(format!("-o key {key:?} is not on the allowlist"));
            }
            let v = value[value.find('=')? + 1..].to_owned();
            if key.eq_ignore_ascii_case("ProxyJump") && !v_is_none(&v) && !jump_ok(&v) {
                return Some(format!("ProxyJump {v:?}: not a list of hosts"));
            }
            if (key.eq_ignore_ascii_case("HostName") || key.eq_ignore_ascii_case("User"))
                && v.starts_with('-')
            {
                return Some(format!("{key} {v:?} starts with '-'"));
            }
            None
        }
        'b' | 'l' if value.starts_with('-') => Some(format!("-{flag} {value:?} starts with '-'")),
        _ => None,
    }
}

fn v_is_none(v: &str) -> bool {
    v.eq_ignore_ascii_case("none")
}

/// Whether `parsed` is what ssh's getopt reads from the same elements.
fn same_reading(parsed: &[SshOption], getopt: &[Opt]) -> bool {
    parsed.len() == getopt.len()
        && parsed
            .iter()
            .zip(getopt)
            .all(|(p, (flag, value))| match (p, value) {
                (SshOption::Flag(c), None) => c == flag,
                (SshOption::Short { flag: f, value: v }, Some(value)) => f == flag && v == value,
                (SshOption::Config { key, .. }, Some(text)) => {
                    *flag == 'o' && ssh_config_key(text).eq_ignore_ascii_case(key)
                }
                _ => false,
            })
}

#[test]
fn whatever_extra_ssh_args_accept_renders_only_allowlisted_options() {
    let mut rng = Rng::for_test(0x5EED_0004);
    let seed = rng.seed();
    let control = Path::new("/run/cm/robustness");
    let mut accepted = 0;
    let mut refused = 0;
    for case in 0..10_000 {
        let mut args = Vec::new();
        for _ in 0..1 + rng.below(4) {
            args.extend(soup_token(&mut rng));
        }
        let Ok(parsed) = ExtraSshArgs::parse(&args) else {
            refused += 1;
            continue;
        };
        accepted += 1;
        let ctx = format!("seed {seed} case {case}: {args:?}");

        // The parser reads the agent's elements the way ssh would.
        let (reading, end) =
            ssh_getopt(&args).unwrap_or_else(|e| panic!("{ctx}: accepted, but {e}"));
        assert_eq!(end, args.len(), "{ctx}: accepted a non-option");
        assert!(
            same_reading(&parsed.0, &reading),
            "{ctx}: parsed {:?}, ssh reads {reading:?}",
            parsed.0
        );

        // What reaches ssh: the daemon's own options, the agent's, the daemon's defaults, then
        // `--` and the target.
        let conn = Connection::parse(
            &RawConnection {
                target: "web".into(),
                extra_ssh_args: args.clone(),
                ..Default::default()
            },
            None,
        )
        .unwrap_or_else(|e| panic!("{ctx}: the connection refused what the parser accepted: {e}"));
        let argv = control_master(&settings(), &conn, control);
        let rendered: Vec<String> = argv
            .args
            .iter()
            .map(|a| a.to_str().unwrap().to_owned())
            .collect();
        let (options, end) =
            ssh_getopt(&rendered).unwrap_or_else(|e| panic!("{ctx}: {rendered:?}: {e}"));
        assert_eq!(rendered[end - 1], "--", "{ctx}: {rendered:?}");
        assert_eq!(&rendered[end..], ["web"], "{ctx}: {rendered:?}");

        let own_prefix: Vec<Opt> = vec![
            ('M', None),
            ('N', None),
            ('T', None),
            ('o', Some("ControlMaster=yes".to_owned())),
            ('S', Some(control.display().to_string())),
            ('o', Some("ControlPersist=no".to_owned())),
            ('o', Some("BatchMode=yes".to_owned())),
        ];
        assert_eq!(
            options[..own_prefix.len()],
            own_prefix[..],
            "{ctx}: {rendered:?}"
        );
        // ssh keeps the first value of an option: whatever the agent sent, that is BatchMode=yes.
        let first_batch_mode = options.iter().find_map(|(flag, value)| {
            let v = value.as_deref().filter(|_| *flag == 'o')?;
            ssh_config_key(v)
                .eq_ignore_ascii_case("batchmode")
                .then(|| v.to_owned())
        });
        assert_eq!(
            first_batch_mode.as_deref(),
            Some("BatchMode=yes"),
            "{ctx}: {rendered:?}"
        );
        // The daemon's defaults come last, each unless the agent set it.
        let mut defaults = Vec::new();
        for (key, value) in [
            ("ConnectTimeout", "10"),
            ("ServerAliveInterval", "15"),
            ("ServerAliveCountMax", "3"),
        ] {
            if !parsed.sets(key) {
                defaults.push(('o', Some(format!("{key}={value}"))));
            }
        }
        let agent = &options[own_prefix.len()..];
        assert!(agent.ends_with(&defaults), "{ctx}: {rendered:?}");
        let agent = &agent[..agent.len() - defaults.len()];
        for (flag, value) in agent {
            if let Some(problem) = agent_option_problem(*flag, value.as_deref()) {
                panic!("{ctx}: rendered as {rendered:?}: {problem}");
            }
        }
        assert_eq!(agent.len(), parsed.0.len(), "{ctx}: {rendered:?}");
    }
    assert!(
        accepted >= 1000,
        "seed {seed}: only {accepted} accepted, the property is too weak"
    );
    assert!(refused >= 1000, "seed {seed}: only {refused} refused");
}
