//! [`PidSlot`]: where a command's remote pid lands once a reader finds its report.

use crate::recovery::journal::Entry;

/// The remote pid, filled in once by whichever reader finds the report, and recorded in the
/// command's journal entry (which records the command's end when the slot is dropped, after the
/// command has ended or been ended).
pub(super) struct PidSlot {
    pid: tokio::sync::watch::Sender<Option<u32>>,
    entry: Entry,
}

impl PidSlot {
    pub(super) fn new(entry: Entry) -> Self {
        Self {
            pid: tokio::sync::watch::Sender::new(None),
            entry,
        }
    }

    pub(super) fn get(&self) -> Option<u32> {
        *self.pid.borrow()
    }

    pub(super) fn set(&self, pid: u32) {
        self.entry.pgid(pid);
        self.pid.send_replace(Some(pid));
    }

    /// Resolves once the pid is known (at once if it already is).
    pub(super) async fn known(&self) -> u32 {
        let mut rx = self.pid.subscribe();
        loop {
            if let Some(p) = *rx.borrow_and_update() {
                return p;
            }
            // The sender lives as long as `self`, so this cannot fail while we wait.
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}
