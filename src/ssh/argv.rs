//! The only place that builds a command line for ssh, scp and rsync. It accepts
//! validated types only, so an argv that exists was built from checked parts. The destination
//! always follows `--`; agent options are re-spelled canonically; options the daemon depends on
//! (multiplexing, batch mode) come first, because ssh keeps the first value it reads.
//!
//! Two kinds of ssh are started: ControlMasters (`control_master`, BatchMode=yes) and, for a
//! session to a host that wants an answer first, an `ssh -tt -M` on the session's terminal
//! (`terminal_master`, BatchMode=no: its prompts show in the session). Commands themselves do not
//! start an ssh client: the daemon opens them as sessions on its masters through the multiplexing
//! protocol (`super::mux`).
//!
//! scp and rsync (`scp`, `rsync`) ride on a master too: their ssh gets `-o ControlPath=<the
//! master's socket> -o ControlMaster=no` and the connection's options as `-o Key=value` only
//! (scp's own flags differ from ssh's: `-l` is a bandwidth limit there). Their operands follow
//! `--`; local operands are absolute paths and remote ones are `host:path` built from the target,
//! so agent input never becomes one of their options.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::options::connection::Connection;
use super::options::extra_ssh_args::SshOption;
use super::transfers::extra_rsync_args::ExtraRsyncArgs;
use super::transfers::paths::{LocalOperand, RemotePath};

/// A program and its arguments, ready to spawn (never through a local shell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Argv {
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

impl Argv {
    fn new(program: &Path) -> Self {
        Self {
            program: program.to_path_buf(),
            args: Vec::new(),
        }
    }

    fn arg(&mut self, a: impl Into<OsString>) -> &mut Self {
        self.args.push(a.into());
        self
    }

    fn opt(&mut self, key: &str, value: impl std::fmt::Display) -> &mut Self {
        self.arg("-o").arg(format!("{key}={value}"))
    }

    /// The command line as text, for logs and error messages.
    pub fn display(&self) -> String {
        std::iter::once(self.program.to_string_lossy().into_owned())
            .chain(self.args.iter().map(|a| a.to_string_lossy().into_owned()))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What the operator (not agents) decides for every ssh the daemon runs.
#[derive(Debug, Clone)]
pub struct SshSettings {
    pub ssh: PathBuf,
    /// `-F` for every invocation (SSH_MCP_SSH_CONFIG / `--ssh-config`).
    pub config_file: Option<PathBuf>,
    /// ConnectTimeout unless the agent set one.
    pub connect_timeout_secs: u32,
    /// ServerAliveInterval for masters unless the agent set one.
    pub keepalive_interval_secs: u32,
}

/// Whether ssh may ask on its terminal (a password, a passphrase, a host key answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prompts {
    /// Never: BatchMode=yes. Every ssh the daemon runs without a terminal.
    Never,
    /// On the session's terminal, where the agent answers with ssh_write_session.
    OnTerminal,
}

fn push_common(argv: &mut Argv, settings: &SshSettings, conn: &Connection, prompts: Prompts) {
    // Forced options first: ssh keeps the first value it reads, so nothing after can undo them.
    argv.opt(
        "BatchMode",
        if prompts == Prompts::Never {
            "yes"
        } else {
            "no"
        },
    );
    if let Some(config) = &settings.config_file {
        argv.arg("-F").arg(config.as_os_str());
    }
    if let Some(port) = conn.port {
        argv.arg("-p").arg(port.to_string());
    }
    if let Some(identity) = &conn.identity_file {
        argv.arg("-i").arg(identity.as_path().as_os_str());
    }
    if let Some(known) = &conn.known_hosts_file {
        argv.arg("-o")
            .arg(path_option("UserKnownHostsFile", known.as_path()));
    }
    if let Some(strict) = conn.strict_host_key_checking {
        argv.opt("StrictHostKeyChecking", strict.as_ssh_value());
    }
    for option in &conn.extra.0 {
        match option {
            SshOption::Flag(c) => argv.arg(format!("-{c}")),
            SshOption::Short { flag, value } => argv.arg(format!("-{flag}")).arg(value),
            SshOption::Config { key, value } => argv.opt(key, value),
        };
    }
    // Defaults go after the agent's options, so that an agent's value wins.
    if !conn.extra.sets("ConnectTimeout") {
        argv.opt("ConnectTimeout", settings.connect_timeout_secs);
    }
}

/// A ControlMaster for `conn`: authenticates, then serves channels on `control_path` until the
/// daemon ends it. It runs in the foreground as the daemon's child (no `-f`, no ControlPersist),
/// so the daemon owns its life.
pub fn control_master(settings: &SshSettings, conn: &Connection, control_path: &Path) -> Argv {
    let mut argv = Argv::new(&settings.ssh);
    argv.arg("-M").arg("-N").arg("-T");
    argv.opt("ControlMaster", "yes");
    argv.arg("-S").arg(control_path.as_os_str());
    argv.opt("ControlPersist", "no");
    push_common(&mut argv, settings, conn, Prompts::Never);
    push_keepalive(&mut argv, settings, conn);
    argv.arg("--").arg(conn.target.as_str());
    argv
}

fn push_keepalive(argv: &mut Argv, settings: &SshSettings, conn: &Connection) {
    if !conn.extra.sets("ServerAliveInterval") {
        argv.opt("ServerAliveInterval", settings.keepalive_interval_secs);
    }
    if !conn.extra.sets("ServerAliveCountMax") {
        argv.opt("ServerAliveCountMax", 3);
    }
}

/// A session that authenticates on its own terminal: `ssh -tt` under the session's PTY, so that
/// ssh's password, passphrase or host-key prompt shows in the session and the agent's answer
/// reaches it; it is also a ControlMaster on `control_path`, so that once it is in, the pool lends
/// its connection to exec calls. `remote_command` is the session command
/// (`remote::session_command`).
pub fn terminal_master(
    settings: &SshSettings,
    conn: &Connection,
    control_path: &Path,
    remote_command: &str,
) -> Argv {
    let mut argv = Argv::new(&settings.ssh);
    argv.arg("-tt").arg("-M");
    argv.opt("ControlMaster", "yes");
    argv.arg("-S").arg(control_path.as_os_str());
    argv.opt("ControlPersist", "no");
    push_common(&mut argv, settings, conn, Prompts::OnTerminal);
    push_keepalive(&mut argv, settings, conn);
    argv.arg("--").arg(conn.target.as_str()).arg(remote_command);
    argv
}

/// An ssh option as `(Key, value)` for `-o Key=value`, the one spelling scp and rsync's ssh share.
fn as_config(option: &SshOption) -> (&'static str, String) {
    match option {
        SshOption::Flag(c) => match c {
            '4' => ("AddressFamily", "inet".into()),
            '6' => ("AddressFamily", "inet6".into()),
            'C' => ("Compression", "yes".into()),
            'q' => ("LogLevel", "QUIET".into()),
            'v' => ("LogLevel", "DEBUG1".into()),
            'a' => ("ForwardAgent", "no".into()),
            'x' => ("ForwardX11", "no".into()),
            _ => ("GSSAPIDelegateCredentials", "no".into()),
        },
        SshOption::Short { flag, value } => {
            let key = match flag {
                'b' => "BindAddress",
                'B' => "BindInterface",
                'c' => "Ciphers",
                'i' => "IdentityFile",
                'J' => "ProxyJump",
                'l' => "User",
                'm' => "MACs",
                _ => "Port",
            };
            (key, value.clone())
        }
        SshOption::Config { key, value } => (key, value.clone()),
    }
}

/// `Key=value` for a path value: ssh splits a `-o` line into words (quotes group, `#` starts a
/// comment), so a path with white space, quotes, `\` or `#` goes in double quotes.
fn path_option(key: &str, path: &Path) -> OsString {
    let text = path.to_string_lossy();
    let plain = !text
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '#'));
    let mut o = OsString::from(format!("{key}="));
    if plain {
        o.push(path.as_os_str());
    } else {
        o.push(format!(
            "\"{}\"",
            text.replace('\\', "\\\\").replace('"', "\\\"")
        ));
    }
    o
}

/// The ssh options of a transfer: on the master at `control_path` (never a master of its own),
/// in batch mode, with the connection's options as the master has them.
fn transfer_ssh_options(
    settings: &SshSettings,
    conn: &Connection,
    control_path: &Path,
) -> Vec<OsString> {
    let mut argv = Argv::new(&settings.ssh);
    argv.opt("BatchMode", "yes");
    argv.arg("-o").arg(path_option("ControlPath", control_path));
    argv.opt("ControlMaster", "no");
    if let Some(config) = &settings.config_file {
        argv.arg("-F").arg(config.as_os_str());
    }
    if let Some(port) = conn.port {
        argv.opt("Port", port);
    }
    if let Some(identity) = &conn.identity_file {
        argv.arg("-o")
            .arg(path_option("IdentityFile", identity.as_path()));
    }
    if let Some(known) = &conn.known_hosts_file {
        argv.arg("-o")
            .arg(path_option("UserKnownHostsFile", known.as_path()));
    }
    if let Some(strict) = conn.strict_host_key_checking {
        argv.opt("StrictHostKeyChecking", strict.as_ssh_value());
    }
    for option in &conn.extra.0 {
        let (key, value) = as_config(option);
        argv.opt(key, value);
    }
    if !conn.extra.sets("ConnectTimeout") {
        argv.opt("ConnectTimeout", settings.connect_timeout_secs);
    }
    argv.args
}

/// The host part of a `host:path` operand: an IPv6 address gets the brackets scp and rsync need.
fn operand_host(conn: &Connection) -> String {
    let t = conn.target.as_str();
    let (user, host) = match t.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, t),
    };
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    match user {
        Some(u) => format!("{u}@{host}"),
        None => host,
    }
}

/// Where a transfer goes.
#[derive(Debug, Clone)]
pub enum Operands {
    Upload {
        sources: Vec<LocalOperand>,
        destination: RemotePath,
    },
    Download {
        sources: Vec<RemotePath>,
        destination: LocalOperand,
    },
}

/// A path that starts with `//` as one `/`, which names the same directory: after a host named
/// `scp` or `rsync`, `host://…` would read as a URL (scp: another host; rsync: daemon mode).
fn one_leading_slash(p: &str) -> &str {
    match p.strip_prefix("//") {
        Some(_) => &p[p.len() - p.trim_start_matches('/').len() - 1..],
        None => p,
    }
}

/// `host:path` for scp in SFTP mode: the path goes to the server as it is (scp itself takes a
/// leading `:` or `-` as part of the name, and `~`, `~/` as the home directory), except that
/// scp expands glob characters in a download's sources, so those are escaped to name one file.
fn scp_remote(host: &str, path: &RemotePath, escape_glob: bool) -> OsString {
    let p = one_leading_slash(path.as_str());
    let p = if escape_glob {
        escape_glob_chars(p)
    } else {
        p.to_owned()
    };
    OsString::from(format!("{host}:{p}"))
}

fn escape_glob_chars(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for c in p.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '{' | '}') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// scp between this machine and `conn`'s host over the master at `control_path`, in SFTP mode
/// (`-s`: paths reach the server as they are, no remote shell quoting).
pub fn scp(
    settings: &SshSettings,
    scp: &Path,
    conn: &Connection,
    control_path: &Path,
    operands: &Operands,
    recursive: bool,
    preserve_times: bool,
) -> Argv {
    let mut argv = Argv::new(scp);
    argv.arg("-s").arg("-S").arg(settings.ssh.as_os_str());
    argv.args
        .extend(transfer_ssh_options(settings, conn, control_path));
    if recursive {
        argv.arg("-r");
    }
    if preserve_times {
        argv.arg("-p");
    }
    argv.arg("--");
    push_operands(&mut argv, conn, operands, scp_remote);
    argv
}

/// The sources, then the destination: local paths as they are (absolute), remote ones as
/// `host:path` spelled by `remote` for the program at hand (`is_source` for a download's).
fn push_operands(
    argv: &mut Argv,
    conn: &Connection,
    operands: &Operands,
    remote: fn(&str, &RemotePath, bool) -> OsString,
) {
    let host = operand_host(conn);
    match operands {
        Operands::Upload {
            sources,
            destination,
        } => {
            for s in sources {
                argv.arg(s.as_path().as_os_str());
            }
            argv.arg(remote(&host, destination, false));
        }
        Operands::Download {
            sources,
            destination,
        } => {
            for s in sources {
                argv.arg(remote(&host, s, true));
            }
            argv.arg(destination.as_path().as_os_str());
        }
    }
}

/// The fixed choices of an rsync call (the seed's parameters).
#[derive(Debug, Clone, Default)]
pub struct RsyncFlags {
    pub compress: bool,
    pub delete: bool,
    pub dry_run: bool,
    pub exclude: Vec<String>,
}

/// One word of rsync's `-e` command: rsync splits that string at spaces and reads `'…'` with
/// `''` inside as one literal `'`.
fn rsync_shell_word(w: &std::ffi::OsStr) -> String {
    format!("'{}'", w.to_string_lossy().replace('\'', "''"))
}

/// `host:path` for rsync: the path travels as a protected argument, but rsync reads `host::path`
/// (a path starting with `:`) as daemon mode, the remote rsync reads a leading `-` as an option,
/// expands glob characters and does not expand `~`. So a leading `-` or `:` gets `./`, `~` and
/// `~/` become the home directory's relative `.` and `./` (the remote rsync starts there), and
/// glob characters of a source are escaped.
fn rsync_remote(host: &str, path: &RemotePath, is_source: bool) -> OsString {
    let p = one_leading_slash(path.as_str());
    let p = if p == "~" {
        ".".to_owned()
    } else if let Some(rest) = p.strip_prefix("~/") {
        format!("./{rest}")
    } else if p.starts_with(['-', ':']) {
        format!("./{p}")
    } else {
        p.to_owned()
    };
    let p = if is_source { escape_glob_chars(&p) } else { p };
    OsString::from(format!("{host}:{p}"))
}

/// rsync between this machine and `conn`'s host, its ssh on the master at `control_path`, with
/// protected arguments (`-s`: remote paths are not split by a remote shell) and `--stats` (how
/// many files and bytes went; the daemon reads them from the output).
#[allow(clippy::too_many_arguments)]
pub fn rsync(
    settings: &SshSettings,
    rsync: &Path,
    conn: &Connection,
    control_path: &Path,
    operands: &Operands,
    flags: &RsyncFlags,
    extra: &ExtraRsyncArgs,
) -> Argv {
    let mut argv = Argv::new(rsync);
    argv.arg("-s").arg("-a").arg("--stats");
    if flags.compress {
        argv.arg("-z");
    }
    if flags.delete {
        argv.arg("--delete");
    }
    if flags.dry_run {
        argv.arg("--dry-run");
    }
    for pattern in &flags.exclude {
        argv.arg(format!("--exclude={pattern}"));
    }
    for option in extra.spelled() {
        argv.arg(option);
    }
    push_rsync_shell_and_operands(&mut argv, settings, conn, control_path, operands);
    argv
}

/// rsync's own answer to "which files of this sync are there, and which differ now": the same
/// sources, destination, `exclude` patterns and selecting options (`ExtraRsyncArgs::selecting`)
/// as [`rsync`], as a dry run comparing contents (`--checksum`) that prints every file it
/// selected, unchanged ones too (`-ii`), one line each as `%i %n`. Nothing is deleted.
#[allow(clippy::too_many_arguments)]
pub fn rsync_listing(
    settings: &SshSettings,
    rsync: &Path,
    conn: &Connection,
    control_path: &Path,
    operands: &Operands,
    flags: &RsyncFlags,
    extra: &ExtraRsyncArgs,
) -> Argv {
    let mut argv = Argv::new(rsync);
    argv.arg("-s")
        .arg("-a")
        .arg("--dry-run")
        .arg("--checksum")
        .arg("-ii")
        .arg("--out-format=%i %n");
    for pattern in &flags.exclude {
        argv.arg(format!("--exclude={pattern}"));
    }
    for option in extra.selecting().spelled() {
        argv.arg(option);
    }
    push_rsync_shell_and_operands(&mut argv, settings, conn, control_path, operands);
    argv
}

/// `-e` with rsync's ssh on the master, `--`, and the operands.
fn push_rsync_shell_and_operands(
    argv: &mut Argv,
    settings: &SshSettings,
    conn: &Connection,
    control_path: &Path,
    operands: &Operands,
) {
    let mut shell = vec![rsync_shell_word(settings.ssh.as_os_str())];
    shell.extend(
        transfer_ssh_options(settings, conn, control_path)
            .iter()
            .map(|w| rsync_shell_word(w)),
    );
    argv.arg("-e").arg(shell.join(" "));
    argv.arg("--");
    push_operands(argv, conn, operands, rsync_remote);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh::options::connection::RawConnection;

    fn settings() -> SshSettings {
        SshSettings {
            ssh: PathBuf::from("/usr/bin/ssh"),
            config_file: Some(PathBuf::from("/etc/ssh-mcp/config")),
            connect_timeout_secs: 10,
            keepalive_interval_secs: 15,
        }
    }

    #[test]
    fn destination_follows_double_dash_and_options_are_canonical() {
        let raw = RawConnection {
            target: "web".into(),
            port: Some(2222),
            extra_ssh_args: vec!["-oconnecttimeout=3".into(), "-Cv".into()],
            ..Default::default()
        };
        let conn = Connection::parse(&raw, None).unwrap();
        let argv = control_master(&settings(), &conn, Path::new("/run/cm/x"));
        let text = argv.display();
        assert!(text.ends_with("-- web"), "{text}");
        assert!(text.contains("-F /etc/ssh-mcp/config"), "{text}");
        assert!(text.contains("-o ConnectTimeout=3"), "{text}");
        assert!(!text.contains("ConnectTimeout=10"), "{text}");
        assert!(text.contains("-C -v"), "{text}");
        let master = control_master(&settings(), &conn, Path::new("/run/cm/x")).display();
        assert!(
            master.contains("-M -N -T -o ControlMaster=yes -S /run/cm/x"),
            "{master}"
        );
        assert!(master.ends_with("-- web"), "{master}");
    }

    #[test]
    fn a_known_hosts_path_with_a_space_stays_one_word_for_the_master() {
        let dir = std::env::temp_dir().join(format!("known hosts {}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("known_hosts");
        let raw = RawConnection {
            target: "web".into(),
            known_hosts_file: Some(file.to_string_lossy().into_owned()),
            ..Default::default()
        };
        let conn = Connection::parse(&raw, None).unwrap();
        let argv = control_master(&settings(), &conn, Path::new("/run/cm/x"));
        let expected = format!("UserKnownHostsFile=\"{}\"", file.display());
        assert!(
            argv.args.iter().any(|a| a.to_string_lossy() == expected),
            "{}",
            argv.display()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_terminal_master_may_prompt_and_still_takes_no_agent_batch_mode() {
        let raw = RawConnection {
            target: "web".into(),
            ..Default::default()
        };
        let conn = Connection::parse(&raw, None).unwrap();
        let argv = terminal_master(&settings(), &conn, Path::new("/run/cm/y"), "exec sh -l");
        let text = argv.display();
        assert!(
            text.starts_with("/usr/bin/ssh -tt -M -o ControlMaster=yes -S /run/cm/y -o ControlPersist=no -o BatchMode=no"),
            "{text}"
        );
        assert!(text.ends_with("-- web exec sh -l"), "{text}");
        assert_eq!(argv.args.last().unwrap(), "exec sh -l");
    }

    fn transfer_conn(extra: &[&str]) -> Connection {
        let raw = RawConnection {
            target: "u@web".into(),
            port: Some(2222),
            extra_ssh_args: extra.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        };
        Connection::parse(&raw, None).unwrap()
    }

    fn local(raw: &str) -> LocalOperand {
        LocalOperand::parse("p", raw, None, Some(Path::new("/work"))).unwrap()
    }

    fn remote(raw: &str) -> RemotePath {
        RemotePath::parse("p", raw).unwrap()
    }

    #[test]
    fn scp_rides_the_master_and_takes_no_agent_flag_of_its_own() {
        let conn = transfer_conn(&["-l", "alice", "-J", "jump", "-C"]);
        let ops = Operands::Upload {
            sources: vec![local("-e touch x"), local("/a b")],
            destination: remote("-dst"),
        };
        let argv = scp(
            &settings(),
            Path::new("/usr/bin/scp"),
            &conn,
            Path::new("/run/cm/z"),
            &ops,
            true,
            true,
        );
        let args: Vec<String> = argv
            .args
            .iter()
            .map(|a| a.to_string_lossy().into())
            .collect();
        assert_eq!(&args[..3], ["-s", "-S", "/usr/bin/ssh"]);
        let dash = args.iter().position(|a| a == "--").unwrap();
        assert_eq!(
            &args[dash + 1..],
            ["/work/-e touch x", "/a b", "u@web:-dst"]
        );
        let opts = &args[3..dash];
        for pair in opts.chunks(2) {
            assert!(
                matches!(pair[0].as_str(), "-o" | "-F" | "-r" | "-p"),
                "scp got a flag it would read itself: {pair:?}"
            );
        }
        let text = opts.join(" ");
        assert!(text.starts_with("-o BatchMode=yes -o ControlPath=/run/cm/z -o ControlMaster=no"));
        assert!(
            text.contains("-o User=alice -o ProxyJump=jump -o Compression=yes"),
            "{text}"
        );
        assert!(text.contains("-o Port=2222"), "{text}");
        assert!(text.ends_with("-r -p"), "{text}");
    }

    #[test]
    fn scp_download_escapes_glob_characters_of_remote_sources() {
        let ops = Operands::Download {
            sources: vec![remote("a*b?[c]")],
            destination: local("/tmp/d"),
        };
        let argv = scp(
            &settings(),
            Path::new("scp"),
            &transfer_conn(&[]),
            Path::new("/cm"),
            &ops,
            false,
            false,
        );
        let text = argv.display();
        assert!(text.ends_with(r"-- u@web:a\*b\?\[c\] /tmp/d"), "{text}");
    }

    #[test]
    fn rsync_gets_the_ssh_argv_quoted_for_its_own_splitting() {
        let raw = RawConnection {
            target: "::1".into(),
            identity_file: Some("/keys/it's here".into()),
            ..Default::default()
        };
        let conn = Connection::parse(&raw, None).unwrap();
        let ops = Operands::Download {
            sources: vec![remote("-rf x")],
            destination: local("-local"),
        };
        let flags = RsyncFlags {
            compress: true,
            delete: true,
            dry_run: true,
            exclude: vec!["*.o".into()],
        };
        let extra = ExtraRsyncArgs::parse(&["-vh".to_owned()]).unwrap();
        let argv = rsync(
            &settings(),
            Path::new("/usr/bin/rsync"),
            &conn,
            Path::new("/run/cm/r"),
            &ops,
            &flags,
            &extra,
        );
        let args: Vec<String> = argv
            .args
            .iter()
            .map(|a| a.to_string_lossy().into())
            .collect();
        let e = args.iter().position(|a| a == "-e").unwrap();
        assert_eq!(
            &args[..e],
            [
                "-s",
                "-a",
                "--stats",
                "-z",
                "--delete",
                "--dry-run",
                "--exclude=*.o",
                "--verbose",
                "--human-readable"
            ]
        );
        let shell = &args[e + 1];
        assert!(
            shell.starts_with("'/usr/bin/ssh' '-o' 'BatchMode=yes' '-o' 'ControlPath=/run/cm/r' '-o' 'ControlMaster=no'"),
            "{shell}"
        );
        assert!(
            shell.contains(r#"'IdentityFile="/keys/it''s here"'"#),
            "{shell}"
        );
        assert_eq!(
            path_option("K", Path::new(r#"/a "b"\c#"#)),
            OsString::from(r#"K="/a \"b\"\\c#""#)
        );
        assert_eq!(
            path_option("K", Path::new("/plain")),
            OsString::from("K=/plain")
        );
        assert_eq!(&args[e + 2..], ["--", "[::1]:./-rf x", "/work/-local"]);
        let home = |raw: &str| {
            rsync_remote("h", &remote(raw), false)
                .to_string_lossy()
                .into_owned()
        };
        assert_eq!(home("~"), "h:.");
        assert_eq!(home("~/-a"), "h:./-a");
    }

    #[test]
    fn the_listing_repeats_the_selection_as_a_dry_run_that_itemizes_every_file() {
        let ops = Operands::Upload {
            sources: vec![local("src/")],
            destination: remote(":dst"),
        };
        let flags = RsyncFlags {
            compress: true,
            delete: true,
            dry_run: false,
            exclude: vec!["*.o".into()],
        };
        let extra = ExtraRsyncArgs::parse(&[
            "-v".to_owned(),
            "--include=keep.txt".to_owned(),
            "--exclude=*.txt".to_owned(),
        ])
        .unwrap();
        let argv = rsync_listing(
            &settings(),
            Path::new("rsync"),
            &transfer_conn(&[]),
            Path::new("/cm"),
            &ops,
            &flags,
            &extra,
        );
        let args: Vec<String> = argv
            .args
            .iter()
            .map(|a| a.to_string_lossy().into())
            .collect();
        let e = args.iter().position(|a| a == "-e").unwrap();
        assert_eq!(
            &args[..e],
            [
                "-s",
                "-a",
                "--dry-run",
                "--checksum",
                "-ii",
                "--out-format=%i %n",
                "--exclude=*.o",
                "--include=keep.txt",
                "--exclude=*.txt"
            ]
        );
        assert_eq!(&args[e + 2..], ["--", "/work/src/", "u@web:./:dst"]);
    }

    /// No remote path changes what the operand means: `host::x` would be rsync's daemon mode,
    /// `rsync://…` and `scp://…` (a host named so, and a path starting with `//`) URLs.
    #[test]
    fn remote_operands_keep_their_meaning_whatever_the_path_starts_with() {
        let rsync = |host: &str, raw: &str| {
            rsync_remote(host, &remote(raw), false)
                .to_string_lossy()
                .into_owned()
        };
        let scp = |host: &str, raw: &str| {
            scp_remote(host, &remote(raw), false)
                .to_string_lossy()
                .into_owned()
        };
        assert_eq!(rsync("h", ":x"), "h:./:x");
        assert_eq!(rsync("h", "::x"), "h:./::x");
        assert_eq!(rsync("h", "-x"), "h:./-x");
        assert_eq!(rsync("h", "h2:x"), "h:h2:x");
        assert_eq!(rsync("rsync", "//srv/x"), "rsync:/srv/x");
        assert_eq!(rsync("rsync", "///x"), "rsync:/x");
        assert_eq!(rsync("h", "/"), "h:/");
        assert_eq!(
            scp("h", ":x"),
            "h::x",
            "scp reads what follows the first colon"
        );
        assert_eq!(scp("scp", "//etc/x"), "scp:/etc/x");
        assert_eq!(scp("h", "//"), "h:/");
        assert_eq!(scp("h", "~/x"), "h:~/x");
    }
}
