//! The ssh of a ControlMaster: [`control_master`], in batch mode, for every connection the pool
//! opens, and [`terminal_master`], `ssh -tt -M` on a session's terminal for a host that wants an
//! answer first. Options the daemon depends on come before the agent's, defaults after them.

use std::path::Path;

use super::{Argv, SshSettings};
use crate::ssh::options::connection::Connection;
use crate::ssh::options::extra_ssh_args::SshOption;

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
    argv.host_key_options(conn);
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

/// `ssh -G`: prints the configuration ssh would use for `conn` (its HostName, User, Port after
/// the user's config, `Match` blocks and canonicalisation) and connects nowhere. The policy
/// matches its rules on these names, so an alias cannot hide the host it leads to.
pub fn resolved_config(settings: &SshSettings, conn: &Connection) -> Argv {
    let mut argv = Argv::new(&settings.ssh);
    argv.arg("-G");
    push_common(&mut argv, settings, conn, Prompts::Never);
    argv.arg("--").arg(conn.target.as_str());
    argv
}

/// The names `ssh -G`'s output gives a host: its `hostname` and `user` lines (lower-case keys,
/// one `key value` pair per line). `None` for a missing key.
pub fn resolved_names(output: &str) -> (Option<&str>, Option<&str>) {
    let value = |key: &str| {
        output.lines().find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == key && !v.is_empty()).then_some(v.trim())
        })
    };
    (value("hostname"), value("user"))
}

/// A session that authenticates on its own terminal: `ssh -tt` under the session's PTY, so that
/// ssh's password, passphrase or host-key prompt shows in the session and the agent's answer
/// reaches it; it is also a ControlMaster on `control_path`, so that once it is in, the pool lends
/// its connection to exec calls. `remote_command` is the session command
/// (`remote::scripts::session_command`).
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
