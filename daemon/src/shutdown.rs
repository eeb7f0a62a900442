//! The shutdown order, written down once:
//!
//! 1. a signal, or a client's Stop call, cancels `requests`;
//! 2. the gRPC server stops accepting and lets in-flight calls finish, for at most
//!    [`SERVER_GRACE`];
//! 3. every running command ends its remote process group (SIGTERM, then SIGKILL after the grace)
//!    and its local ssh; we wait for the `commands` tracker, bounded by [`COMMANDS_DEADLINE`];
//! 4. `masters` is cancelled: every ControlMaster is terminated and its socket removed; we wait
//!    for the `connections` tracker, bounded by [`MASTERS_DEADLINE`];
//! 5. the caller removes the daemon socket it bound.
//!
//! Every task that can outlive a request is spawned on one of the two trackers, so step 3 and 4
//! find it.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long the gRPC server waits for clients after it stops accepting (commands end on their
/// own within the kill grace, and step 3 waits for them anyway).
pub const SERVER_GRACE: Duration = Duration::from_secs(5);
pub const COMMANDS_DEADLINE: Duration = Duration::from_secs(10);
pub const MASTERS_DEADLINE: Duration = Duration::from_secs(5);

#[derive(Clone, Default)]
pub struct Shutdown {
    pub requests: CancellationToken,
    pub masters: CancellationToken,
    pub commands: TaskTracker,
    pub connections: TaskTracker,
}

impl Shutdown {
    pub fn begin(&self) {
        self.requests.cancel();
    }

    pub async fn requested(&self) {
        self.requests.cancelled().await
    }

    pub fn is_requested(&self) -> bool {
        self.requests.is_cancelled()
    }

    /// Steps 3 and 4 of the order above.
    pub async fn drain(&self) {
        self.requests.cancel();
        self.commands.close();
        if tokio::time::timeout(COMMANDS_DEADLINE, self.commands.wait())
            .await
            .is_err()
        {
            tracing::warn!("some commands did not end within {COMMANDS_DEADLINE:?}");
        }
        self.masters.cancel();
        self.connections.close();
        if tokio::time::timeout(MASTERS_DEADLINE, self.connections.wait())
            .await
            .is_err()
        {
            tracing::warn!("some control masters did not close within {MASTERS_DEADLINE:?}");
        }
    }
}

/// Installs the SIGTERM and SIGINT handlers now (so that a signal arriving right after start-up
/// is not lost) and returns a future that resolves when either arrives.
pub fn signals() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
    })
}
