//! The allowlist behind `extra_ssh_args`: which short flags and `-o` keys are allowed, what their
//! values may look like, and why the dangerous ones are refused. `extra_ssh_args.rs` reads agent
//! input against these tables; changing what is allowed means changing this file only.

/// What a value may look like, per option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueKind {
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
pub(crate) const ALLOWED_CONFIG: &[(&str, ValueKind)] = &[
    ("AddressFamily", OneOf(&["any", "inet", "inet6"])),
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
pub(crate) const REFUSED_CONFIG: &[(&str, &str)] = &[
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
    (
        "batchmode",
        "the daemon sets it: yes, except for a session's own ssh, whose prompts show in the session",
    ),
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
pub(crate) const SSH_OPTSTRING: &str =
    "1246ab:c:e:fgi:kl:m:no:p:qstvxAB:CD:E:F:GI:J:KL:MNO:P:Q:R:S:TVw:W:XYy";

/// Short flags allowed without a value.
pub(crate) const ALLOWED_FLAGS: &[char] = &['4', '6', 'C', 'q', 'v', 'a', 'x', 'k'];

/// Short flags allowed with a value, and what the value must be.
pub(crate) const ALLOWED_SHORT: &[(char, ValueKind)] = &[
    ('b', Host),
    ('B', Word),
    ('c', List),
    ('i', Path),
    ('J', Jump),
    ('l', User),
    ('m', List),
    ('p', Number),
];

pub(crate) fn short_refusal(flag: char) -> &'static str {
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

pub(crate) fn allowed_summary() -> String {
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

pub(crate) fn takes_value(flag: char) -> Option<bool> {
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
