//! The first phase of an attempt: a fresh nonce, the journal entry written before the command can
//! start, and the command line with its pid report.

use super::ExecSpec;
use crate::connection::pid_report::nonce;
use crate::recovery::journal::{self, Journal};

/// What an attempt sends, and the record that outlives the daemon should it die meanwhile.
pub(super) struct Prepared {
    pub nonce: String,
    pub entry: journal::Entry,
    pub remote_command: String,
}

pub(super) fn prepare(journal: &Journal, spec: &ExecSpec) -> Prepared {
    let nonce = nonce();
    // In the journal before the command can start, so that a daemon that dies from here on
    // leaves a record the next one ends the command by (`orphans`).
    let entry = journal.begin(
        journal::Kind::Command,
        &nonce,
        &spec.conn,
        spec.auth_sock.as_deref(),
    );
    let remote_command = spec.remote_command.with_pid_report(&nonce);
    Prepared {
        nonce,
        entry,
        remote_command,
    }
}
