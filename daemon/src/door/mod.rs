//! The door: every gRPC call enters the daemon here, and only here. A handler's first step is
//! [`Door::enter`], which counts the call per method, refuses it during shutdown, and knows who
//! made it ([`Caller`]); a call on a host then has its common fields (connection, agent socket,
//! timeout → deadline) validated once by [`Entry::common`], and is described — its [`Class`],
//! its target and a one-line summary of what it will do — before it runs ([`Entry::admit`]).
//! That description is what a policy decides on, what a person approves and what an audit
//! record keeps.

mod caller;
mod common;
mod method;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

pub use caller::Caller;
pub use common::{Common, MAX_TIMEOUT_SECS, RawCommon, parse_timeout};
pub use method::{Class, Method};

use crate::error::DaemonError;

/// The door of one daemon (see the module doc).
pub struct Door {
    /// Calls entered per method, indexed by [`Method::index`].
    calls: [AtomicU64; Method::ALL.len()],
    /// The daemon's home directory, for `~/` in local paths: looked up once, at start.
    home: Option<PathBuf>,
    shutting_down: crate::shutdown::Shutdown,
}

impl Door {
    pub fn new(home: Option<PathBuf>, shutdown: crate::shutdown::Shutdown) -> Self {
        Self {
            calls: Default::default(),
            home,
            shutting_down: shutdown,
        }
    }

    /// A call of `method` comes in with these headers and connection extensions. Counted
    /// whatever happens next; refused while the daemon shuts down when it would start new work
    /// on a host ([`Method::starts_work`]).
    pub fn enter<T>(
        &self,
        method: Method,
        request: &tonic::Request<T>,
    ) -> Result<Entry, DaemonError> {
        self.calls[method.index()].fetch_add(1, Ordering::Relaxed);
        if method.starts_work() && self.shutting_down.is_requested() {
            return Err(DaemonError::ShuttingDown);
        }
        Ok(Entry {
            method,
            caller: Caller::of(request.metadata(), request.extensions()),
            entered: Instant::now(),
            home: self.home.clone(),
        })
    }

    /// How many calls of each method have entered since the daemon started.
    pub fn calls(&self) -> Vec<(Method, u64)> {
        Method::ALL
            .iter()
            .map(|m| (*m, self.calls[m.index()].load(Ordering::Relaxed)))
            .collect()
    }
}

/// A call that came through the door.
#[derive(Debug, Clone)]
pub struct Entry {
    pub method: Method,
    pub caller: Caller,
    /// When it came in: its deadline counts from here.
    pub entered: Instant,
    home: Option<PathBuf>,
}

impl Entry {
    /// The call's common fields, validated (see [`Common`]).
    pub fn common(&self, raw: &RawCommon) -> Result<Common, DaemonError> {
        Ok(Common::parse(raw, self.home(), self.entered)?)
    }

    /// The daemon's home directory, for `~/` in the call's local paths.
    pub fn home(&self) -> Option<&std::path::Path> {
        self.home.as_deref()
    }

    pub fn class(&self) -> Class {
        self.method.class()
    }

    /// Describes the call before it runs: `target` as the agent wrote it (none for a call that
    /// touches no host) and what it will do, in one line. Every call on a host is admitted here
    /// after its request is validated and before anything reaches the host.
    pub fn admit(&self, target: Option<&str>, summary: impl Into<String>) -> Admitted {
        let summary = one_line(summary.into());
        tracing::debug!(
            method = self.method.name(),
            class = self.class().name(),
            target = target.unwrap_or(""),
            client = %self.caller.client,
            pid = self.caller.pid,
            "{summary}"
        );
        Admitted {
            target: target.map(str::to_owned),
            summary,
        }
    }
}

/// The common fields of a call on `target` without a timeout, for the specs' unit tests.
#[cfg(test)]
pub fn test_common(target: &str) -> Common {
    let raw = RawCommon {
        connection: ssh_mcp_core::ssh::options::connection::RawConnection {
            target: target.into(),
            ..Default::default()
        },
        ..Default::default()
    };
    Common::parse(&raw, None, Instant::now()).expect("a valid test target")
}

/// A call's description as it was admitted (see [`Entry::admit`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub target: Option<String>,
    pub summary: String,
}

/// The longest summary kept; a command of kilobytes is cut, with an ellipsis.
const MAX_SUMMARY_CHARS: usize = 200;

/// `text` on one line: control characters shown as spaces, cut at [`MAX_SUMMARY_CHARS`].
fn one_line(text: String) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_SUMMARY_CHARS)
        .collect();
    if text.chars().count() > MAX_SUMMARY_CHARS {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn door() -> Door {
        Door::new(Some("/home/u".into()), crate::shutdown::Shutdown::default())
    }

    #[test]
    fn every_entry_is_counted_under_its_method() {
        let d = door();
        let req = tonic::Request::new(());
        d.enter(Method::FilesView, &req).unwrap();
        d.enter(Method::FilesView, &req).unwrap();
        d.enter(Method::ExecRun, &req).unwrap();
        let calls: std::collections::HashMap<_, _> = d.calls().into_iter().collect();
        assert_eq!(calls[&Method::FilesView], 2);
        assert_eq!(calls[&Method::ExecRun], 1);
        assert_eq!(calls[&Method::SessionsRun], 0);
    }

    #[test]
    fn during_shutdown_no_new_work_comes_in() {
        let shutdown = crate::shutdown::Shutdown::default();
        let d = Door::new(None, shutdown.clone());
        shutdown.begin();
        let req = tonic::Request::new(());
        assert!(matches!(
            d.enter(Method::ExecRun, &req),
            Err(DaemonError::ShuttingDown)
        ));
        assert!(d.enter(Method::ControlStatus, &req).is_ok());
        assert!(d.enter(Method::SessionsStop, &req).is_ok());
        let calls: std::collections::HashMap<_, _> = d.calls().into_iter().collect();
        assert_eq!(
            calls[&Method::ExecRun],
            1,
            "a refused call still came to the door"
        );
    }

    #[test]
    fn a_summary_is_one_short_line() {
        assert_eq!(one_line("ls\n-la\t/".into()), "ls -la /");
        let long = one_line("x".repeat(1000));
        assert_eq!(long.chars().count(), MAX_SUMMARY_CHARS + 1);
        assert!(long.ends_with('…'));
    }
}
