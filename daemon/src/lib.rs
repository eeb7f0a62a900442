//! ssh-mcpd: the per-user daemon. [`run`] takes an already-bound listener and a shutdown future,
//! serves gRPC until the future resolves, then shuts down in the order written in [`shutdown`].
//!
//! - [`listener`]: bind or take the systemd socket, the single-instance lock, the peer-UID check.
//! - [`grpc`]: one thin service per proto service; `grpc/status.rs` maps errors to the wire.
//! - [`exec`]: one remote command, from lease to outcome, with timeouts and cancellation, in
//!   named phases; ending commands whose session opened after their call stopped; why a long
//!   call stops early.
//! - [`connection`]: the layer every capability stands on: the ControlMaster pool (one or more
//!   per connection, never more than sshd allows), sessions over a master's control socket (no
//!   ssh client), SFTP channels, ending remote process groups in batches, bounded output and the
//!   pid report, and the only place that starts a local process.
//! - [`sessions`]: persistent sessions (a terminal channel each), their output, reads and people.
//! - [`files`]: remote files over SFTP on the pool's masters (view, create, edit).
//! - [`search`]: ssh_grep (grep on the host) and ssh_glob (a walk over SFTP).
//! - [`forwards`]: port forwards kept by the pool's masters (mux OPEN_FWD), outliving clients.
//! - [`door`]: where every call comes in: counted, its common fields validated, admitted by the
//!   policy (and a person, when the policy asks), recorded in the audit trail.
//! - [`trust`]: the user's policy (reloaded while running), the names a target is matched by,
//!   approvals by a person, the audit trail.
//! - [`hosts`]: the hosts of the user's ssh configuration, resolved by `ssh -G` (`ssh_hosts`).
//! - [`jobs`]: background jobs, started detached on their hosts, recorded in the state
//!   directory, read, listed and stopped over the pool.
//! - [`outputs`]: whole outputs of commands whose result showed only part of them, on disk
//!   under an `output_id`, read back in pages (`ssh_read_output`).
//! - [`recovery`]: the remote commands and session shells running now, on disk (the journal),
//!   and ending, at start-up, those a crashed daemon left running (orphans).
//! - `search::fuzzing` and `grpc::fuzzing` (feature `fuzzing`, and in tests): what the fuzz
//!   targets of `fuzz/` call.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod config;
pub mod connection;
pub mod door;
pub mod error;
pub mod exec;
pub mod files;
pub mod forwards;
pub mod grpc;
pub mod hosts;
pub mod jobs;

pub mod listener;
pub mod logging;
pub mod outputs;
pub mod recovery;

pub mod search;
pub mod sessions;
pub mod shutdown;
pub mod state;
pub mod transfers;
pub mod trust;

use std::future::Future;

use config::Config;
use listener::Bound;
use state::Daemon;

/// Serves until `stop` resolves (or a client calls Stop), then shuts down in order.
pub async fn run(
    bound: Bound,
    config: Config,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    ssh_mcp_core::paths::ensure_private_dir(&config.control_dir)?;
    connection::control_paths::sweep_stale(&config.control_dir);
    let activated = bound.activated();
    let socket_path = bound.socket_path().to_path_buf();
    if let Err(e) = ssh_mcp_core::paths::ensure_private_dir(&config.state_dir) {
        // Commands still run; sessions and the journal report their own errors.
        tracing::warn!("the state directory: {e}");
    }
    let (journal, left_running) = recovery::journal::Journal::open(&config.state_dir);
    let trust = std::sync::Arc::new(trust::Trust::new(
        config.policy_path.clone(),
        config::home_dir(),
        &config.state_dir,
    )?);
    let daemon = Daemon::new(config, activated, journal, trust.clone());
    trust.watch(daemon.shutdown.clone());
    daemon.sessions.restore();
    // The journal's last lines are the ends of the commands that shutdown stopped: its sync
    // task runs until the masters go, after the commands.
    daemon.journal.spawn_sync(
        &daemon.shutdown.connections,
        daemon.shutdown.masters.clone(),
    );
    let shutdown = daemon.shutdown.clone();
    daemon.shutdown.connections.spawn(async move {
        tokio::select! {
            _ = stop => shutdown.begin(),
            _ = shutdown.requested() => {}
        }
    });
    let incoming = bound.into_incoming(&daemon.shutdown.connections)?;
    tracing::info!(socket = %socket_path.display(), pid = std::process::id(), activated, "ssh-mcpd ready");
    listener::notify_ready();
    daemon
        .shutdown
        .commands
        .spawn(recovery::orphans::end_left_running(
            daemon.clone(),
            left_running,
        ));
    let server = grpc::router(daemon.clone()).serve_with_incoming_shutdown(incoming, {
        let s = daemon.shutdown.clone();
        async move { s.requested().await }
    });
    // In-flight calls get a bounded time to finish; a client that never answers the HTTP/2
    // GOAWAY must not keep the daemon alive.
    let served = tokio::select! {
        served = server => served,
        _ = async {
            daemon.shutdown.requested().await;
            tokio::time::sleep(shutdown::SERVER_GRACE).await;
        } => {
            tracing::warn!("clients did not disconnect within {:?}; closing their connections", shutdown::SERVER_GRACE);
            Ok(())
        }
    };
    listener::notify_stopping();
    daemon.shutdown.drain().await;
    if !activated {
        listener::remove_socket(&socket_path);
    }
    tracing::info!("ssh-mcpd stopped");
    served.map_err(Into::into)
}
