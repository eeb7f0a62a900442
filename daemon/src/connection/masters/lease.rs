//! [`Lease`]: one borrowed channel on a master, given back on drop; and the place a session or a
//! forward holds under its connection's limit for its whole life ([`LongLived`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::{Host, lock};
use crate::connection::killer::GroupKiller;

/// Who holds a channel for its whole life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongLived {
    Session,
    Forward,
}

/// One of a connection's places for a long-lived holder, taken before its lease and given back
/// when the lease is dropped (or when getting the lease failed).
pub(super) struct LongLivedSlot {
    pub(super) host: Arc<Host>,
    pub(super) holder: LongLived,
}

impl Drop for LongLivedSlot {
    fn drop(&mut self) {
        let mut st = lock(&self.host.state);
        match self.holder {
            LongLived::Session => st.sessions = st.sessions.saturating_sub(1),
            LongLived::Forward => st.forwards = st.forwards.saturating_sub(1),
        }
    }
}

/// One borrowed channel on a master. Dropping it gives the channel back.
pub struct Lease {
    pub(super) host: Arc<Host>,
    pub(super) master_id: u64,
    pub control_path: PathBuf,
    /// Ends remote process groups over this master.
    pub killer: GroupKiller,
    /// The master was already up before this call asked for it.
    pub reused: bool,
    /// The master's ssh process: a terminal session's new window size reaches the server when
    /// this process gets SIGWINCH.
    pub master_pid: Option<u32>,
    /// For a session's or a forward's lease: its place under the connection's limit.
    pub(super) long_lived: Option<LongLivedSlot>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        {
            let mut st = lock(&self.host.state);
            if let Some(m) = st.masters.iter_mut().find(|m| m.id == self.master_id) {
                m.in_use = m.in_use.saturating_sub(1);
                m.last_used = Instant::now();
            }
        }
        self.host.changed.notify_waiters();
    }
}

impl Lease {
    /// A second lease on the same master, for work that outlives this one's holder on the same
    /// channel (a session still opening after its call stopped): the channel stays counted as in
    /// use until that work ends, so the pool never lends it twice and the killer's spare channel
    /// stays free.
    pub fn duplicate(&self) -> Lease {
        {
            let mut st = lock(&self.host.state);
            if let Some(m) = st.masters.iter_mut().find(|m| m.id == self.master_id) {
                m.in_use += 1;
            }
        }
        Lease {
            host: self.host.clone(),
            master_id: self.master_id,
            control_path: self.control_path.clone(),
            killer: self.killer.clone(),
            reused: self.reused,
            master_pid: self.master_pid,
            // The holder's place stays with the first lease.
            long_lived: None,
        }
    }

    /// sshd refused a session on this master although we counted a free one: it allows fewer
    /// sessions than we assumed (or frees them late). After a few refusals, lend one fewer.
    pub fn session_refused(&self) {
        let mut st = lock(&self.host.state);
        if let Some(m) = st.masters.iter_mut().find(|m| m.id == self.master_id) {
            m.refusals += 1;
            if m.refusals >= 3 && m.capacity > 1 {
                m.capacity = m.in_use.saturating_sub(1).max(1);
                m.refusals = 0;
                tracing::info!(
                    master = m.id,
                    capacity = m.capacity,
                    "server allows fewer sessions; lending fewer"
                );
            }
        }
    }
}
