//! The only place that builds a command line for ssh (and, later, scp and rsync). It accepts
//! validated types only, so an argv that exists was built from checked parts. The destination
//! always follows `--`; agent options are re-spelled canonically; options the daemon depends on
//! (multiplexing, batch mode) come first, because ssh keeps the first value it reads.
//!
//! Commands themselves do not start an ssh client: the daemon opens them as sessions on its
//! masters through the multiplexing protocol (`super::mux`).

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

fn push_common(argv: &mut Argv, settings: &SshSettings, conn: &Connection) {
    // Forced options first: ssh keeps the first value it reads, so nothing after can undo them.
    argv.opt("BatchMode", "yes");
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
    push_common(&mut argv, settings, conn);
    if !conn.extra.sets("ServerAliveInterval") {
        argv.opt("ServerAliveInterval", settings.keepalive_interval_secs);
    }
    if !conn.extra.sets("ServerAliveCountMax") {
        argv.opt("ServerAliveCountMax", 3);
    }
    argv.arg("--").arg(conn.target.as_str());
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
}
