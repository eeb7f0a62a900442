//! The only place that builds a command line for ssh (and, later, scp and rsync). It accepts
//! validated types only, so an argv that exists was built from checked parts. The destination
//! always follows `--`; agent options are re-spelled canonically; options the daemon depends on
//! (multiplexing, batch mode) come first, because ssh keeps the first value it reads.
//!
//! Two kinds of ssh are started: ControlMasters (`control_master`, BatchMode=yes) and, for a
//! session to a host that wants an answer first, an `ssh -tt -M` on the session's terminal
//! (`terminal_master`, BatchMode=no: its prompts show in the session). Commands themselves do not
//! start an ssh client: the daemon opens them as sessions on its masters through the multiplexing
//! protocol (`super::mux`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::connection::Connection;
use super::options::SshOption;

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
        let mut o = OsString::from("UserKnownHostsFile=");
        o.push(known.as_path().as_os_str());
        argv.arg("-o").arg(o);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh::connection::RawConnection;

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
}
