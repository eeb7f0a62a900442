//! rsync's command lines: a sync ([`rsync`]) and rsync's own listing of what a sync selects
//! ([`rsync_listing`]), with protected arguments, its ssh on the master given as `-e`, the
//! agent's `extra_rsync_args` in their canonical spelling and operands after `--`.

use std::ffi::OsString;
use std::path::Path;

use super::transfer::{
    Operands, escape_glob_chars, one_leading_slash, push_operands, transfer_ssh_options,
};
use super::{Argv, SshSettings};
use crate::ssh::options::connection::Connection;
use crate::ssh::transfers::extra_rsync_args::ExtraRsyncArgs;
use crate::ssh::transfers::paths::RemotePath;

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
pub(super) fn rsync_remote(host: &str, path: &RemotePath, is_source: bool) -> OsString {
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

/// One sync: rsync with its ssh on the master at `control_path` for `conn`, the operands, and
/// the agent's choices; [`rsync`] and [`rsync_listing`] spell it.
#[derive(Debug, Clone, Copy)]
pub struct RsyncCall<'a> {
    pub settings: &'a SshSettings,
    pub rsync: &'a Path,
    pub conn: &'a Connection,
    pub control_path: &'a Path,
    pub operands: &'a Operands,
    pub flags: &'a RsyncFlags,
    pub extra: &'a ExtraRsyncArgs,
}

/// The sync, with protected arguments (`-s`: remote paths are not split by a remote shell) and
/// `--stats` (how many files and bytes went; the daemon reads them from the output).
pub fn rsync(call: &RsyncCall<'_>) -> Argv {
    let mut argv = Argv::new(call.rsync);
    argv.arg("-s").arg("-a").arg("--stats");
    if call.flags.compress {
        argv.arg("-z");
    }
    if call.flags.delete {
        argv.arg("--delete");
    }
    if call.flags.dry_run {
        argv.arg("--dry-run");
    }
    push_excludes(&mut argv, call);
    for option in call.extra.spelled() {
        argv.arg(option);
    }
    push_rsync_shell_and_operands(&mut argv, call);
    argv
}

/// rsync's own answer to "which files of this sync are there, and which differ now": the same
/// sources, destination, `exclude` patterns and selecting options (`ExtraRsyncArgs::selecting`)
/// as [`rsync`], as a dry run comparing contents (`--checksum`) that prints every file it
/// selected, unchanged ones too (`-ii`), one line each as `%i %n`. Nothing is deleted.
pub fn rsync_listing(call: &RsyncCall<'_>) -> Argv {
    let mut argv = Argv::new(call.rsync);
    argv.arg("-s")
        .arg("-a")
        .arg("--dry-run")
        .arg("--checksum")
        .arg("-ii")
        .arg("--out-format=%i %n");
    push_excludes(&mut argv, call);
    for option in call.extra.selecting().spelled() {
        argv.arg(option);
    }
    push_rsync_shell_and_operands(&mut argv, call);
    argv
}

/// The agent's `exclude` patterns.
fn push_excludes(argv: &mut Argv, call: &RsyncCall<'_>) {
    for pattern in &call.flags.exclude {
        argv.arg(format!("--exclude={pattern}"));
    }
}

/// `-e` with rsync's ssh on the master, `--`, and the operands.
fn push_rsync_shell_and_operands(argv: &mut Argv, call: &RsyncCall<'_>) {
    let mut shell = vec![rsync_shell_word(call.settings.ssh.as_os_str())];
    shell.extend(
        transfer_ssh_options(call.settings, call.conn, call.control_path)
            .iter()
            .map(|w| rsync_shell_word(w)),
    );
    argv.arg("-e").arg(shell.join(" "));
    argv.arg("--");
    push_operands(argv, call.conn, call.operands, rsync_remote);
}
