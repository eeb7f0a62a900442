//! scp's command line: SFTP mode, its ssh on the master, operands after `--`.

use std::ffi::OsString;
use std::path::Path;

use super::transfer::{
    Operands, escape_glob_chars, one_leading_slash, push_operands, transfer_ssh_options,
};
use super::{Argv, SshSettings};
use crate::ssh::options::connection::Connection;
use crate::ssh::transfers::paths::RemotePath;

/// `host:path` for scp in SFTP mode: the path goes to the server as it is (scp itself takes a
/// leading `:` or `-` as part of the name, and `~`, `~/` as the home directory), except that
/// scp expands glob characters in a download's sources, so those are escaped to name one file.
pub(super) fn scp_remote(host: &str, path: &RemotePath, escape_glob: bool) -> OsString {
    let p = one_leading_slash(path.as_str());
    let p = if escape_glob {
        escape_glob_chars(p)
    } else {
        p.to_owned()
    };
    OsString::from(format!("{host}:{p}"))
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
