//! Ending what a crashed daemon left running. At start-up the journal (`journal.rs`) lists the
//! remote commands and session shells that the previous daemon began and never saw end; it
//! died without stopping them (SIGKILL, a panic, the OOM killer), and a command that neither
//! reads nor writes outlives the connection that started it. For each host this runs one script
//! (`remote_orphans::end_orphans_script`, through the exec path like any helper script) that
//! ends the process groups that are still there and still ours, and logs what it ended.
//!
//! A host that cannot be reached keeps its entries for the next start, up to [`KEEP_TRYING`];
//! after that they are dropped with a warning.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use ssh_mcp_core::ssh::options::connection::Connection;
use ssh_mcp_core::ssh::remote::orphans::{
    Orphan, OrphanFate, end_orphans_script, parse_orphans_report,
};
use tokio_util::sync::CancellationToken;

use crate::exec::{self, Counters};
use crate::recovery::journal::{Running, SavedConnection, now_ms};
use crate::state::Daemon;

/// How long an entry is kept while its host cannot be reached.
const KEEP_TRYING: Duration = Duration::from_secs(24 * 3600);

/// The whole script's limit (connecting included).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// SIGTERM, then this long before SIGKILL, in tenths of a second.
const GRACE_TENTHS: u32 = 20;

/// Ends, host by host and in parallel, what `left` says is still running. Runs on the commands
/// tracker; returns once every host has answered or failed.
pub async fn end_left_running(daemon: Daemon, left: Vec<Running>) {
    if left.is_empty() {
        return;
    }
    tracing::warn!(
        count = left.len(),
        "the previous daemon ended without stopping its remote commands; ending them on their hosts"
    );
    let mut by_host: HashMap<(SavedConnection, Option<String>), Vec<Running>> = HashMap::new();
    for r in left {
        by_host
            .entry((r.connection.clone(), r.auth_sock.clone()))
            .or_default()
            .push(r);
    }
    let mut hosts = Vec::new();
    for ((saved, auth_sock), entries) in by_host {
        let d = daemon.clone();
        hosts.push(daemon.shutdown.commands.spawn(async move {
            end_on_host(&d, &saved, auth_sock, entries).await;
        }));
    }
    for host in hosts {
        let _ = host.await;
    }
}

async fn end_on_host(
    daemon: &Daemon,
    saved: &SavedConnection,
    auth_sock: Option<String>,
    entries: Vec<Running>,
) {
    let target = saved.target.clone();
    // The saved paths are absolute: no home directory is needed to read them.
    let conn = match Connection::parse(&saved.to_raw(), None) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(%target, "dropping journal entries with a connection that no longer parses: {e}");
            forget(daemon, &entries);
            return;
        }
    };
    let now = now_ms();
    let orphans: Vec<Orphan> = entries
        .iter()
        .map(|r| Orphan {
            nonce: r.nonce.clone(),
            group: r
                .pgid
                .map(|p| (p, now.saturating_sub(r.pgid_ms.unwrap_or(now)) / 1000)),
        })
        .collect();
    let script = end_orphans_script(&orphans, GRACE_TENTHS);
    let spec = exec::script_spec(
        conn,
        auth_sock.map(PathBuf::from),
        script,
        Some(SCRIPT_TIMEOUT),
        64 * 1024,
    );
    let outcome = exec::run(
        daemon,
        &spec,
        &Counters::default(),
        &CancellationToken::new(),
    )
    .await;
    let report = match outcome {
        Ok(o) if o.exit_code == Some(0) => String::from_utf8_lossy(&o.stdout.bytes).into_owned(),
        Ok(o) => {
            let why = String::from_utf8_lossy(&o.stderr.bytes).trim().to_owned();
            return unreachable(daemon, &target, &entries, &why);
        }
        Err(e) => return unreachable(daemon, &target, &entries, &e.to_string()),
    };
    let fates: HashMap<String, OrphanFate> = parse_orphans_report(&report).into_iter().collect();
    for r in &entries {
        let kind = r.kind;
        match fates.get(&r.nonce) {
            Some(OrphanFate::Ended { pgid, signal }) => tracing::info!(
                %target, ?kind, pgid, signal, nonce = %r.nonce,
                "ended a remote process group left running by the previous daemon"
            ),
            Some(OrphanFate::Gone) => tracing::info!(
                %target, ?kind, nonce = %r.nonce,
                "a remote process left by the previous daemon had already ended"
            ),
            Some(OrphanFate::Reused { pgid }) => tracing::info!(
                %target, ?kind, pgid, nonce = %r.nonce,
                "left alone: the process group id of a command of the previous daemon now belongs to a newer process"
            ),
            None => tracing::warn!(
                %target, ?kind, nonce = %r.nonce,
                "the host did not say what became of a command of the previous daemon"
            ),
        }
        daemon.journal.end(&r.nonce);
    }
}

/// The host could not be reached: keep the entries for the next start while they are young.
fn unreachable(daemon: &Daemon, target: &str, entries: &[Running], why: &str) {
    let now = now_ms();
    let keep_ms = KEEP_TRYING.as_millis() as u64;
    let (old, young): (Vec<&Running>, Vec<&Running>) = entries
        .iter()
        .partition(|r| now.saturating_sub(r.began_ms) > keep_ms);
    if !young.is_empty() {
        tracing::warn!(
            %target, count = young.len(),
            "cannot reach the host to end commands left by the previous daemon ({why}); trying again at the next start"
        );
    }
    if !old.is_empty() {
        tracing::warn!(
            %target, count = old.len(),
            "giving up on ending commands left by a daemon over a day ago: the host cannot be reached ({why})"
        );
        for r in old {
            daemon.journal.end(&r.nonce);
        }
    }
}

fn forget(daemon: &Daemon, entries: &[Running]) {
    for r in entries {
        daemon.journal.end(&r.nonce);
    }
}
