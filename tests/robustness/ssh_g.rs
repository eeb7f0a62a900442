//! The `extra_ssh_args` guard proven against OpenSSH itself. Thousands of generated argument
//! lists, hostile ones and near misses in every spelling ssh reads (`-oKey=v`, `-o Key v`,
//! `-oKey v`, quoted keys, any letter case, `=` or white space, abbreviated keys, bundled flags,
//! `-F`, `-J`, `-W`, `-L`, `-D`, …), go through `Connection::parse`. Each list it accepts is built
//! into the real command line (`ssh::argv`: a ControlMaster, a session's own ssh, scp's ssh, or the
//! ssh in rsync's `-e`), and `ssh -G` with that command line says what ssh would do. Against the
//! same command line without agent options, it must show no other ProxyCommand, LocalCommand,
//! KnownHostsCommand, PKCS#11 or security key provider, forward, BatchMode, multiplexing or
//! terminal setting, and nothing from a config file the agent named (`-F`, `Include`): those files
//! hold a sentinel and a `Match exec` that would leave a marker file.
//!
//! The config is one this test writes and passes with `-F`, as an operator's
//! `SSH_MCP_SSH_CONFIG` is: it sets a ProxyCommand and a forward for one host and `BatchMode no`
//! for another, so "what the user's own config sets" is part of every comparison. The `ssh -G`
//! processes run in parallel.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use ssh_mcp_core::ssh::argv::rsync::{RsyncCall, RsyncFlags};
use ssh_mcp_core::ssh::argv::transfer::Operands;
use ssh_mcp_core::ssh::argv::{self, SshSettings};
use ssh_mcp_core::ssh::options::connection::{Connection, RawConnection};
use ssh_mcp_core::ssh::transfers::extra_rsync_args::ExtraRsyncArgs;
use ssh_mcp_core::ssh::transfers::paths::{LocalOperand, RemotePath};

use super::Rng;
use crate::support::Scratch;

/// Generated argument lists per run; the accepted ones go to `ssh -G`.
const CASES: usize = 6000;

/// Keys of `ssh -G`'s output that agent options must leave as the config and the daemon set
/// them: every line of one of these keys must also be in the output without agent options.
const GUARDED_KEYS: &[&str] = &[
    "proxycommand",
    "proxyusefdpass",
    "localcommand",
    "permitlocalcommand",
    "knownhostscommand",
    "pkcs11provider",
    "securitykeyprovider",
    "localforward",
    "remoteforward",
    "dynamicforward",
    "gatewayports",
    "clearallforwardings",
    "exitonforwardfailure",
    "permitremoteopen",
    "tunnel",
    "tunneldevice",
    "batchmode",
    "controlmaster",
    "controlpath",
    "controlpersist",
    "forwardagent",
    "identityagent",
    "forwardx11",
    "forwardx11trusted",
    "xauthlocation",
    "remotecommand",
    "requesttty",
    "sessiontype",
    "stdinnull",
    "forkafterauthentication",
    "escapechar",
    "enableescapecommandline",
    "userknownhostsfile",
    "globalknownhostsfile",
    "sendenv",
    "setenv",
];

/// In every value of the hostile config files, so that any of their options showing up is seen.
const SENTINEL: &str = "smtsentinel";

/// Hosts of the generated calls: plain, one whose config sets a ProxyCommand and a forward, one
/// whose config says `BatchMode no`.
const TARGETS: &[&str] = &["plain", "cfgproxy", "cfgbatch", "user@plain"];

/// The command line kinds `ssh::argv` builds whose ssh reads `extra_ssh_args`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Master,
    TerminalMaster,
    Scp,
    Rsync,
}

const KINDS: &[Kind] = &[Kind::Master, Kind::TerminalMaster, Kind::Scp, Kind::Rsync];

struct Fixture {
    dir: Scratch,
    settings: SshSettings,
    /// A config an agent must not get ssh to read (`-F`, `Include`).
    hostile_config: PathBuf,
    /// Created by the hostile config's `Match exec` if ssh ever evaluates it.
    marker: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = Scratch::new("sshg");
        let ssh = ssh_mcp_core::ssh::binaries::resolve("SSH client", "SSH_MCP_SSH_BIN", "ssh")
            .expect("ssh is installed (scripts/test.sh installs openssh-client)");
        let config = dir.join("config");
        let hostile_config = dir.join("hostile.conf");
        let marker = dir.join("marker");
        std::fs::write(
            &config,
            "Host cfgproxy\n\
             \x20 ProxyCommand /bin/false user-proxy %h %p\n\
             \x20 LocalForward 127.0.0.1:7001 127.0.0.1:22\n\
             Host cfgbatch\n\
             \x20 BatchMode no\n\
             Host *\n\
             \x20 User cfguser\n",
        )
        .unwrap();
        std::fs::write(
            &hostile_config,
            format!(
                "Match exec \"touch {marker}\"\n\
                 Host *\n\
                 \x20 ProxyCommand /bin/false {SENTINEL}\n\
                 \x20 LocalCommand /bin/false {SENTINEL}\n\
                 \x20 PermitLocalCommand yes\n\
                 \x20 KnownHostsCommand /bin/false {SENTINEL}\n\
                 \x20 PKCS11Provider /tmp/{SENTINEL}.so\n\
                 \x20 SecurityKeyProvider /tmp/{SENTINEL}.so\n\
                 \x20 LocalForward 127.0.0.1:7777 {SENTINEL}:1\n\
                 \x20 DynamicForward 7778\n\
                 \x20 BatchMode no\n\
                 \x20 HostName {SENTINEL}\n",
                marker = marker.display()
            ),
        )
        .unwrap();
        let settings = SshSettings {
            ssh,
            config_file: Some(config),
            connect_timeout_secs: 10,
            keepalive_interval_secs: 15,
        };
        Self {
            dir,
            settings,
            hostile_config,
            marker,
        }
    }

    /// What ssh gets, after `-G`, from the command line of `kind` for `conn`: the whole argv for
    /// the masters; for scp and rsync, the ssh options they hand to ssh, then the destination.
    fn ssh_args(&self, kind: Kind, conn: &Connection) -> Vec<OsString> {
        let control_path = self.dir.join("cm");
        let local = LocalOperand::parse("source", "/tmp/src", None, None).unwrap();
        let remote = RemotePath::parse("destination", "dst").unwrap();
        let operands = Operands::Upload {
            sources: vec![local],
            destination: remote,
        };
        let destination = |mut opts: Vec<OsString>| {
            opts.push("--".into());
            opts.push(conn.target.as_str().into());
            opts
        };
        match kind {
            Kind::Master => argv::master::control_master(&self.settings, conn, &control_path).args,
            Kind::TerminalMaster => {
                argv::master::terminal_master(&self.settings, conn, &control_path, "exec sh -l")
                    .args
            }
            Kind::Scp => {
                let a = argv::scp::scp(
                    &self.settings,
                    Path::new("scp"),
                    conn,
                    &control_path,
                    &operands,
                    true,
                    false,
                )
                .args;
                // `-s -S <ssh>`, then the ssh options scp passes on, then scp's own `-r` and `--`.
                assert_eq!(a[1], "-S");
                let end = a.iter().position(|w| w == "-r").unwrap();
                destination(a[3..end].to_vec())
            }
            Kind::Rsync => {
                let a = argv::rsync::rsync(&RsyncCall {
                    settings: &self.settings,
                    rsync: Path::new("rsync"),
                    conn,
                    control_path: &control_path,
                    operands: &operands,
                    flags: &RsyncFlags::default(),
                    extra: &ExtraRsyncArgs::default(),
                })
                .args;
                let e = a.iter().position(|w| w == "-e").unwrap();
                let words = rsync_split(&a[e + 1].to_string_lossy());
                destination(words[1..].iter().map(OsString::from).collect())
            }
        }
    }
}

/// rsync's reading of its `-e` string (main.c, do_cmd): words split at spaces; inside `'…'` or
/// `"…"` the quote character doubled is one literal quote.
fn rsync_split(cmd: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = cmd.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.peek().is_none() {
            return words;
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match quote {
                None if c == ' ' => break,
                None if c == '\'' || c == '"' => quote = Some(c),
                Some(q) if c == q => {
                    if chars.peek() == Some(&q) {
                        chars.next();
                        word.push(q);
                    } else {
                        quote = None;
                    }
                }
                _ => word.push(c),
            }
        }
        words.push(word);
    }
}

/// `ssh -G` output as key → lines (`key value`), or why ssh refused the command line.
fn ssh_g(ssh: &Path, args: &[OsString]) -> Result<BTreeMap<String, Vec<String>>, String> {
    let out = Command::new(ssh)
        .arg("-G")
        .args(args)
        .env_remove("SSH_AUTH_SOCK")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("ssh -G runs");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let key = line.split(' ').next().unwrap_or("").to_ascii_lowercase();
        map.entry(key).or_default().push(line.to_owned());
    }
    Ok(map)
}

/// Why `hostile` shows ssh doing more than `baseline` (the same command line without agent
/// options), if it does.
fn escape(
    baseline: &BTreeMap<String, Vec<String>>,
    hostile: &BTreeMap<String, Vec<String>>,
) -> Option<String> {
    for (key, lines) in hostile {
        if let Some(line) = lines.iter().find(|l| l.contains(SENTINEL)) {
            return Some(format!("the hostile config was read: {line}"));
        }
        if !GUARDED_KEYS.contains(&key.as_str()) {
            continue;
        }
        let allowed = baseline.get(key).map(Vec::as_slice).unwrap_or(&[]);
        if let Some(line) = lines.iter().find(|l| !allowed.contains(l)) {
            return Some(format!("{line:?} (without agent options: {allowed:?})"));
        }
    }
    None
}

// ---- the generator ----

/// `-o` keys that must never take effect, some of them only in the config file's syntax.
const HOSTILE_KEYS: &[&str] = &[
    "ProxyCommand",
    "LocalCommand",
    "PermitLocalCommand",
    "KnownHostsCommand",
    "PKCS11Provider",
    "SecurityKeyProvider",
    "Include",
    "Match",
    "Host",
    "LocalForward",
    "RemoteForward",
    "DynamicForward",
    "GatewayPorts",
    "ClearAllForwardings",
    "ExitOnForwardFailure",
    "PermitRemoteOpen",
    "Tunnel",
    "TunnelDevice",
    "BatchMode",
    "ControlMaster",
    "ControlPath",
    "ControlPersist",
    "ForwardAgent",
    "IdentityAgent",
    "ForwardX11",
    "XAuthLocation",
    "RemoteCommand",
    "RequestTTY",
    "SessionType",
    "StdinNull",
    "ForkAfterAuthentication",
    "EscapeChar",
    "EnableEscapeCommandline",
    "UserKnownHostsFile",
    "GlobalKnownHostsFile",
    "SendEnv",
    "SetEnv",
    "ProxyUseFdpass",
    "IgnoreUnknown",
];

/// Allowed keys whose values could smuggle something if the guard read them wrongly.
const NEAR_MISS_KEYS: &[&str] = &[
    "ProxyJump",
    "HostName",
    "User",
    "IdentityFile",
    "CertificateFile",
    "Port",
    "LogLevel",
    "HostKeyAlias",
    "BindAddress",
    "BindInterface",
    "IPQoS",
    "Ciphers",
    "ConnectTimeout",
    "StrictHostKeyChecking",
    "ServerAliveInterval",
    "Compression",
];

/// Short flags, with a value to give those that take one (`@` stands for the hostile config).
const SHORT_FLAGS: &[(char, &[&str])] = &[
    ('F', &["@"]),
    (
        'J',
        &[
            "bastion",
            "u@jump:22",
            "ssh://u@h:2,v@k",
            "-oProxyCommand=x",
            "h%d",
        ],
    ),
    ('W', &["localhost:22"]),
    ('L', &["7001:localhost:22", "127.0.0.1:7002:a:1"]),
    ('R', &["7003:localhost:22"]),
    ('D', &["7004"]),
    ('w', &["any:any"]),
    ('I', &["/tmp/evil.so"]),
    ('E', &["/tmp/ssh.log"]),
    ('S', &["/tmp/ctl"]),
    ('O', &["exit"]),
    ('P', &["tag"]),
    ('e', &["none"]),
    ('B', &["lo", "eth0", "--", "-F"]),
    ('b', &["127.0.0.1", "::1"]),
    (
        'c',
        &["aes128-ctr", "aes256-gcm@openssh.com", "--", "-aes128-ctr"],
    ),
    ('m', &["hmac-sha2-256"]),
    ('i', &["/tmp/id", "@", "/tmp/x#y"]),
    ('l', &["deploy", "a+b"]),
    ('p', &["2222", "22"]),
    ('o', &["ConnectTimeout=3", "proxycommand=x"]),
];

/// Flags without a value, harmless and not.
const BARE_FLAGS: &[char] = &[
    '4', '6', 'C', 'q', 'v', 'a', 'x', 'k', 'A', 'X', 'Y', 'K', 'f', 'N', 'n', 's', 't', 'T', 'M',
    'G', 'V', 'g', 'y',
];
const HARMLESS_BARE: &[char] = &['4', 'C', 'q', 'v', 'a', 'x', 'k'];

fn hostile_value(rng: &mut Rng, key: &str, hostile_config: &str) -> String {
    let marker_cmd = "/bin/false smt-cmd";
    match key.to_ascii_lowercase().as_str() {
        "include" => hostile_config.to_owned(),
        "match" => rng.pick(&["all", "exec /bin/true", "host *"]).to_string(),
        "host" => "*".into(),
        "localforward" | "remoteforward" => "7005 localhost:22".into(),
        "dynamicforward" => "7006".into(),
        "pkcs11provider" | "securitykeyprovider" | "xauthlocation" => "/tmp/evil.so".into(),
        "tunnel" | "tunneldevice" => "any:any".into(),
        "controlmaster"
        | "controlpersist"
        | "forwardagent"
        | "forwardx11"
        | "gatewayports"
        | "permitlocalcommand"
        | "clearallforwardings"
        | "exitonforwardfailure"
        | "stdinnull"
        | "forkafterauthentication"
        | "requesttty"
        | "batchmode"
        | "proxyusefdpass"
        | "enableescapecommandline" => rng.pick(&["yes", "no", "force", "auto"]).to_string(),
        "sessiontype" => rng.pick(&["subsystem", "default"]).to_string(),
        "controlpath" | "identityagent" | "userknownhostsfile" | "globalknownhostsfile" => {
            "/tmp/other".into()
        }
        "escapechar" => "~".into(),
        "sendenv" | "setenv" => "FOO=bar".into(),
        "ignoreunknown" => "*".into(),
        _ => marker_cmd.into(),
    }
}

fn near_miss_value(rng: &mut Rng, key: &str, hostile_config: &str) -> String {
    let generic: &[&str] = &[
        "x,ProxyCommand=y",
        "h=ProxyCommand=y",
        "22 ProxyCommand y",
        "%d",
        "a%h",
        "[::1]:22",
        "none",
        "-oProxyCommand=x",
        "x#ProxyCommand",
        "\"quoted\"",
        "a\u{a0}b",
    ];
    if rng.percent(35) {
        return rng.pick(generic).to_string();
    }
    match key.to_ascii_lowercase().as_str() {
        "proxyjump" => rng
            .pick(&["bastion", "u@jump:22", "ssh://u@h:2,other", "none", "j%r"])
            .to_string(),
        "hostname" | "hostkeyalias" => rng.pick(&["other", "%h.example", "::1"]).to_string(),
        "user" => rng.pick(&["alice", "a.b+c"]).to_string(),
        "identityfile" | "certificatefile" => {
            if rng.percent(30) {
                hostile_config.to_owned()
            } else {
                rng.pick(&["/tmp/id", "~/.ssh/id_x", "/tmp/a#b", "/tmp/%u"])
                    .to_string()
            }
        }
        "loglevel" => rng.pick(&["debug3", "QUIET"]).to_string(),
        "bindaddress" => "127.0.0.1".into(),
        "bindinterface" => "lo".into(),
        "ipqos" => rng.pick(&["lowdelay", "af21"]).to_string(),
        "ciphers" => rng
            .pick(&["aes128-ctr", "+aes256-ctr", "^aes128-ctr"])
            .to_string(),
        "stricthostkeychecking" => rng.pick(&["accept-new", "no", "off"]).to_string(),
        "compression" => rng.pick(&["yes", "no"]).to_string(),
        _ => rng.pick(&["5", "2222", "0"]).to_string(),
    }
}

/// A run of 0..=2 harmless bare flags to bundle before another flag.
fn bundle(rng: &mut Rng) -> String {
    (0..rng.below(3))
        .map(|_| *rng.pick(HARMLESS_BARE))
        .collect()
}

/// One `-o` option, hostile or a near miss, in one of ssh's spellings.
fn config_option(rng: &mut Rng, hostile_config: &str) -> Vec<String> {
    let hostile = rng.percent(50);
    let canonical = if hostile {
        *rng.pick(HOSTILE_KEYS)
    } else {
        *rng.pick(NEAR_MISS_KEYS)
    };
    let value = if hostile {
        hostile_value(rng, canonical, hostile_config)
    } else {
        near_miss_value(rng, canonical, hostile_config)
    };
    let mut key = canonical.to_owned();
    if rng.percent(15) {
        // An abbreviation, or the key with something glued on.
        let cut = 3 + rng.below(key.len() - 3);
        key = if rng.percent(70) {
            key[..cut].to_owned()
        } else {
            format!("{key}{}", rng.pick(&["s", "=", "\"", "X"]))
        };
    }
    if rng.percent(50) {
        key = rng.random_case(&key);
    }
    if rng.percent(10) {
        key = format!("\"{key}\"");
    }
    let sep = *rng.pick(&["=", " ", " = ", "\t", "==", "= ", "  ", "=\t"]);
    let lead = *rng.pick(&["", "", "", " ", "\t"]);
    let value = if rng.percent(8) {
        format!("\"{value}\"")
    } else {
        value
    };
    let text = format!("{lead}{key}{sep}{value}");
    let b = bundle(rng);
    match rng.below(6) {
        0 => vec![format!("-{b}o"), text],
        1 => vec![format!("-{b}o{text}")],
        2 => vec!["-o".into(), text],
        3 => vec![format!("-o{text}")],
        // `-o Key v` with the value as an element of its own.
        4 => vec!["-o".into(), key, value],
        _ => vec![format!("-o{key}"), value],
    }
}

/// One short option in one of getopt's spellings, alone or bundled.
fn short_option(rng: &mut Rng, hostile_config: &str) -> Vec<String> {
    let b = bundle(rng);
    if rng.percent(30) {
        let flag = *rng.pick(BARE_FLAGS);
        let mut element = format!("-{b}{flag}{}", bundle(rng));
        if rng.percent(10) {
            element = rng.random_case(&element);
        }
        return vec![element];
    }
    let (flag, values) = *rng.pick(SHORT_FLAGS);
    let value = match *rng.pick(values) {
        "@" => hostile_config.to_owned(),
        v => v.to_owned(),
    };
    if rng.percent(50) {
        vec![format!("-{b}{flag}"), value]
    } else {
        vec![format!("-{b}{flag}{value}")]
    }
}

/// Options the guard accepts, so that most lists reach ssh with something mixed in.
fn plain_option(rng: &mut Rng) -> Vec<String> {
    let options: &[&[&str]] = &[
        &["-C"],
        &["-v"],
        &["-p", "2222"],
        &["-oConnectTimeout=5"],
        &["-J", "user@bastion:22"],
        &["-l", "deploy"],
        &["-i", "/tmp/id_test"],
        &["-o", "ServerAliveInterval 10"],
        &["-oHostName=other"],
        &["-o", "user = alice"],
    ];
    rng.pick(options).iter().map(|s| (*s).to_owned()).collect()
}

fn extra_ssh_args(rng: &mut Rng, hostile_config: &str) -> Vec<String> {
    let mut args = Vec::new();
    for _ in 0..1 + rng.below(3) {
        args.extend(match rng.below(10) {
            0..=3 => config_option(rng, hostile_config),
            4..=6 => short_option(rng, hostile_config),
            _ => plain_option(rng),
        });
    }
    args
}

/// One command line for `ssh -G`, and the generated cases that build it (many lists render
/// alike once the guard has re-spelled them, and ssh need read each line only once).
struct Line {
    kind: Kind,
    target: &'static str,
    args: Vec<OsString>,
    cases: Vec<(usize, Vec<String>)>,
}

#[test]
fn ssh_g_shows_no_dangerous_option_from_accepted_extra_ssh_args() {
    let fixture = Fixture::new();
    let mut rng = Rng::for_test(0x5EED_0009);
    let seed = rng.seed();
    let hostile_config = fixture.hostile_config.to_string_lossy().into_owned();
    let connection = |target: &str, extra: Vec<String>| {
        Connection::parse(
            &RawConnection {
                target: target.into(),
                extra_ssh_args: extra,
                ..Default::default()
            },
            None,
        )
    };

    let mut lines: Vec<Line> = Vec::new();
    let mut index: BTreeMap<(Kind, &str, Vec<OsString>), usize> = BTreeMap::new();
    let mut accepted = 0;
    for number in 0..CASES {
        let extra = extra_ssh_args(&mut rng, &hostile_config);
        let kind = *rng.pick(KINDS);
        let target = *rng.pick(TARGETS);
        let Ok(conn) = connection(target, extra.clone()) else {
            continue;
        };
        accepted += 1;
        let args = fixture.ssh_args(kind, &conn);
        let at = *index
            .entry((kind, target, args.clone()))
            .or_insert_with(|| {
                lines.push(Line {
                    kind,
                    target,
                    args,
                    cases: Vec::new(),
                });
                lines.len() - 1
            });
        lines[at].cases.push((number, extra));
    }

    let mut baselines = BTreeMap::new();
    for kind in KINDS {
        for target in TARGETS {
            let conn = connection(target, Vec::new()).unwrap();
            let args = fixture.ssh_args(*kind, &conn);
            let shown = ssh_g(&fixture.settings.ssh, &args)
                .unwrap_or_else(|e| panic!("ssh -G {args:?} fails without agent options: {e}"));
            baselines.insert((*kind, *target), shown);
        }
    }
    // The config and the daemon's options are in effect, so the comparisons mean something.
    let master = &baselines[&(Kind::Master, "cfgproxy")];
    assert!(
        master["proxycommand"][0].contains("user-proxy"),
        "{master:?}"
    );
    assert!(master["localforward"][0].contains("7001"), "{master:?}");
    assert_eq!(master["batchmode"], ["batchmode yes"]);
    assert_eq!(
        baselines[&(Kind::TerminalMaster, "plain")]["batchmode"],
        ["batchmode no"]
    );
    assert_eq!(
        baselines[&(Kind::Scp, "cfgbatch")]["batchmode"],
        ["batchmode yes"]
    );

    let next = AtomicUsize::new(0);
    let escapes = Mutex::new(Vec::new());
    let refused_by_ssh = AtomicUsize::new(0);
    // ssh -G spends much of its time starting up; a few per core keep both cores busy.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()) * 4;
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                while let Some(line) = lines.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let Ok(shown) = ssh_g(&fixture.settings.ssh, &line.args) else {
                        // ssh refuses the whole command line: nothing runs.
                        refused_by_ssh.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    if let Some(why) = escape(&baselines[&(line.kind, line.target)], &shown) {
                        let (number, extra) = &line.cases[0];
                        escapes.lock().unwrap().push(format!(
                            "case {number} ({:?} to {}): extra_ssh_args {extra:?}: {why}",
                            line.kind, line.target
                        ));
                    }
                }
            });
        }
    });

    let escapes = escapes.into_inner().unwrap();
    assert!(
        escapes.is_empty(),
        "ROBUSTNESS_SEED={seed}: {} accepted argument lists change what ssh does:\n{}",
        escapes.len(),
        escapes.join("\n")
    );
    assert!(
        !fixture.marker.exists(),
        "ssh evaluated the hostile config's Match exec"
    );
    // The generator must reach ssh often enough for the proof to mean something.
    let refused_by_ssh = refused_by_ssh.into_inner();
    let read = lines.len() - refused_by_ssh;
    eprintln!(
        "ssh -G: {CASES} lists, {accepted} accepted, {} distinct command lines, {read} read by ssh",
        lines.len()
    );
    assert!(
        accepted >= CASES / 5 && read >= CASES / 8,
        "ROBUSTNESS_SEED={seed}: only {accepted} of {CASES} lists were accepted and {read} \
         command lines read by ssh -G ({refused_by_ssh} were refused by ssh)"
    );
}

#[test]
fn the_check_sees_what_the_guard_would_let_through() {
    // The comparison itself: each of these, were it accepted, is caught.
    let fixture = Fixture::new();
    let conn = Connection::parse(
        &RawConnection {
            target: "plain".into(),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    let base_args = fixture.ssh_args(Kind::Master, &conn);
    let baseline = ssh_g(&fixture.settings.ssh, &base_args).unwrap();
    let hostile_config = fixture.hostile_config.to_string_lossy().into_owned();
    let smuggled: &[&[&str]] = &[
        &["-oProxyCommand=/bin/false x"],
        &["-L", "7001:localhost:22"],
        &["-D7004"],
        &["-W", "localhost:22"],
        &["-oLocalCommand=/bin/false", "-oPermitLocalCommand=yes"],
        &["-oKnownHostsCommand=/bin/false"],
        &["-I/tmp/evil.so"],
        &["-F", &hostile_config],
    ];
    for extra in smuggled {
        // Agent options go where `ssh::argv` puts them: after the daemon's, before the destination.
        let dash = base_args.iter().position(|a| a == "--").unwrap();
        let mut args = base_args[..dash].to_vec();
        args.extend(extra.iter().map(OsString::from));
        args.extend_from_slice(&base_args[dash..]);
        let shown = ssh_g(&fixture.settings.ssh, &args).unwrap();
        assert!(
            escape(&baseline, &shown).is_some(),
            "{extra:?} changes nothing the check looks at"
        );
        assert!(
            Connection::parse(
                &RawConnection {
                    target: "plain".into(),
                    extra_ssh_args: extra.iter().map(|s| (*s).to_owned()).collect(),
                    ..Default::default()
                },
                None
            )
            .is_err(),
            "the guard accepts {extra:?}"
        );
    }
    assert!(
        fixture.marker.exists(),
        "the Match exec tripwire never fires"
    );
    assert_eq!(
        rsync_split("'ssh' '-o' 'IdentityFile=\"/a/it''s\"' x"),
        ["ssh", "-o", "IdentityFile=\"/a/it's\"", "x"]
    );
}
