//! [`Daemon`]: the one value every request handler gets, a cheap clone of shared state: the
//! configuration, the master pool, counters and the shutdown handles.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::Instant;

use crate::config::Config;
use crate::connection::masters::MasterPool;
use crate::shutdown::Shutdown;

#[derive(Clone)]
pub struct Daemon(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    /// Where every call comes in (counts, common fields, admission).
    pub door: crate::door::Door,
    pub shutdown: Shutdown,
    pub masters: MasterPool,
    pub sessions: crate::sessions::registry::SessionRegistry,
    pub forwards: crate::forwards::registry::ForwardRegistry,
    /// The remote commands and session shells running now, on disk for the next daemon.
    pub journal: crate::recovery::journal::Journal,
    pub started: Instant,
    pub activated: bool,
    /// Commands running now (incremented and decremented by exec::run's guard).
    pub running_commands: AtomicU32,
    pub commands_total: AtomicU64,
    /// Edits of one file take turns (`files::path_locks`).
    pub edit_turns: crate::files::path_locks::PathLocks,
    /// Whole outputs of commands whose result showed part of them, for `ssh_read_output`.
    pub outputs: crate::outputs::OutputStore,
    /// Background jobs started on hosts (`jobs`).
    pub jobs: crate::jobs::JobRegistry,
    /// The hosts of the user's ssh configuration, kept until a file changes (`hosts`).
    pub hosts: crate::hosts::HostsCache,
}

impl std::ops::Deref for Daemon {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Daemon {
    pub fn new(
        config: Config,
        activated: bool,
        journal: crate::recovery::journal::Journal,
        trust: Arc<crate::trust::Trust>,
    ) -> Self {
        let shutdown = Shutdown::default();
        let masters = MasterPool::new(&config, shutdown.clone());
        let sessions = crate::sessions::registry::SessionRegistry::new(config.state_dir.clone());
        let jobs = crate::jobs::JobRegistry::open(&config.state_dir);
        let outputs = crate::outputs::OutputStore::open(
            config.state_dir.join("outputs"),
            config.outputs_quota,
            crate::outputs::DEFAULT_KEEP,
        );
        let door = crate::door::Door::new(
            crate::config::home_dir(),
            shutdown.clone(),
            trust,
            masters.clone(),
        );
        Self(Arc::new(Inner {
            door,
            config,
            shutdown,
            masters,
            sessions,
            forwards: Default::default(),
            journal,
            started: Instant::now(),
            activated,
            running_commands: AtomicU32::new(0),
            commands_total: AtomicU64::new(0),
            edit_turns: Default::default(),
            outputs,
            jobs,
            hosts: Default::default(),
        }))
    }
}
