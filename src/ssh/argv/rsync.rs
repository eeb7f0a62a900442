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
