//! What scp and rsync share: their ssh, on a master and never one of its own, with the
//! connection's options spelled as `-o Key=value` (the one spelling both accept); where a
//! transfer goes ([`Operands`]); and how a remote operand's `host:` and path are spelled so that
//! no prefix gives it another meaning.

use std::ffi::OsString;
use std::path::Path;

use super::{Argv, SshSettings, path_option};
use crate::ssh::options::connection::Connection;
use crate::ssh::options::extra_ssh_args::SshOption;
use crate::ssh::transfers::paths::{LocalOperand, RemotePath};

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

/// The ssh options of a transfer: on the master at `control_path` (never a master of its own),
/// in batch mode, with the connection's options as the master has them.
pub(super) fn transfer_ssh_options(
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
    argv.host_key_options(conn);
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
pub(super) fn one_leading_slash(p: &str) -> &str {
    match p.strip_prefix("//") {
        Some(_) => &p[p.len() - p.trim_start_matches('/').len() - 1..],
        None => p,
    }
}

pub(super) fn escape_glob_chars(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for c in p.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '{' | '}') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The sources, then the destination: local paths as they are (absolute), remote ones as
/// `host:path` spelled by `remote` for the program at hand (`is_source` for a download's).
pub(super) fn push_operands(
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
