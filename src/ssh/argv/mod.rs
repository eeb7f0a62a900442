//! The only place that builds a command line for ssh, scp and rsync. It accepts
//! validated types only, so an argv that exists was built from checked parts. The destination
//! always follows `--`; agent options are re-spelled canonically; options the daemon depends on
//! (multiplexing, batch mode) come first, because ssh keeps the first value it reads.
//!
//! Two kinds of ssh are started: ControlMasters ([`master::control_master`], BatchMode=yes)
//! and, for a session to a host that wants an answer first, an `ssh -tt -M` on the session's
//! terminal ([`master::terminal_master`], BatchMode=no: its prompts show in the session).
//! Commands themselves do not start an ssh client: the daemon opens them as sessions on its
//! masters through the multiplexing protocol (`super::mux`).
//!
//! scp and rsync ([`scp`], [`rsync`]) ride on a master too: their ssh gets `-o ControlPath=<the
//! master's socket> -o ControlMaster=no` and the connection's options as `-o Key=value` only
//! (scp's own flags differ from ssh's: `-l` is a bandwidth limit there). Their operands follow
//! `--`; local operands are absolute paths and remote ones are `host:path` built from the target,
//! so agent input never becomes one of their options.
//!
//! [`master`] builds the ssh of a master, [`transfer`] what scp and rsync share (their ssh on a
//! master, the spelling of their operands), [`scp`] and [`rsync`] each program's command line.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::ssh::options::connection::Connection;

pub mod master;
pub mod rsync;
pub mod scp;
pub mod transfer;

#[cfg(test)]
mod tests;

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

    /// The connection's host key options (`UserKnownHostsFile`, `StrictHostKeyChecking`), which
    /// every ssh of ours takes as `-o` options.
    fn host_key_options(&mut self, conn: &Connection) -> &mut Self {
        if let Some(known) = &conn.known_hosts_file {
            self.arg("-o")
                .arg(path_option("UserKnownHostsFile", known.as_path()));
        }
        if let Some(strict) = conn.strict_host_key_checking {
            self.opt("StrictHostKeyChecking", strict.as_ssh_value());
        }
        self
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
