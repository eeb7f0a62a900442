//! The door: every gRPC call enters the daemon here, and only here. A handler's first step is
//! [`Door::enter`], which counts the call per method, refuses it during shutdown, and knows who
//! made it ([`Caller`]); a call on a host then has its common fields (connection, agent socket,
//! timeout → deadline) validated once by [`Entry::common`], and is described — its [`Class`],
//! its target and a one-line summary of what it will do — before it runs ([`Entry::admit`]).
//! That description is what a policy decides on, what a person approves and what an audit
//! record keeps.

mod admit;
mod caller;
mod common;
mod method;
mod record;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

pub use admit::{Call, LocalUse};
pub use caller::Caller;
pub use common::{Common, MAX_TIMEOUT_SECS, RawCommon, parse_timeout};
pub use method::{Class, Method};
pub use record::Ended;

use crate::connection::masters::MasterPool;
use crate::error::DaemonError;
use crate::trust::Trust;

/// The door of one daemon (see the module doc).
pub struct Door {
    /// Calls entered per method, indexed by [`Method::index`].
    calls: [AtomicU64; Method::ALL.len()],
    /// The daemon's home directory, for `~/` in local paths: looked up once, at start.
    home: Option<PathBuf>,
    shutting_down: crate::shutdown::Shutdown,
    trust: Arc<Trust>,
    /// For the ssh settings with which a target's names are resolved.
    masters: MasterPool,
}

impl Door {
    pub fn new(
        home: Option<PathBuf>,
        shutdown: crate::shutdown::Shutdown,
        trust: Arc<Trust>,
        masters: MasterPool,
    ) -> Self {
        Self {
            calls: Default::default(),
            home,
            shutting_down: shutdown,
            trust,
            masters,
        }
    }

    pub fn trust(&self) -> &Arc<Trust> {
        &self.trust
    }

    /// A call of `method` comes in with these headers and connection extensions. Counted
    /// whatever happens next, and recorded in the audit trail when it ends; refused while the
    /// daemon shuts down when it would start new work on a host ([`Method::starts_work`]).
    pub fn enter<T: prost::Message>(
        &self,
        method: Method,
        request: &tonic::Request<T>,
    ) -> Result<Entry, DaemonError> {
        self.enter_with(method, request, |r| request_hash(r))
    }

    /// [`Door::enter`] for a call whose request is a stream (a person attaching to a session):
    /// nothing to bind an approval to, and nothing that asks for one.
    pub fn enter_stream<T>(
        &self,
        method: Method,
        request: &tonic::Request<T>,
    ) -> Result<Entry, DaemonError> {
        self.enter_with(method, request, |_| String::new())
    }

    fn enter_with<T>(
        &self,
        method: Method,
        request: &tonic::Request<T>,
        hash: impl FnOnce(&T) -> String,
    ) -> Result<Entry, DaemonError> {
        self.calls[method.index()].fetch_add(1, Ordering::Relaxed);
        let entered = Instant::now();
        let caller = Caller::of(request.metadata(), request.extensions());
        let record = record::Pending::new(self.trust.clone(), &caller, method, entered);
        if method == Method::ControlStatus {
            // The handshake of every shim, not a tool call: not part of the trail.
            record.silence();
        }
        let approval = request
            .metadata()
            .get(ssh_mcp_core::protocol::APPROVAL_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // What an approval is bound to: only worth hashing when a person may be asked.
        let request_hash = if approval.is_some() || self.trust.loaded().policy.asks_anything() {
            hash(request.get_ref())
        } else {
            String::new()
        };
        let entry = Entry {
            method,
            caller,
            entered,
            home: self.home.clone(),
            trust: self.trust.clone(),
            masters: self.masters.clone(),
            record,
            approval,
            request_hash,
        };
        if method.starts_work() && self.shutting_down.is_requested() {
            let e = DaemonError::ShuttingDown;
            entry.finish(&Ended::failed(&tonic::Status::from(
                DaemonError::ShuttingDown,
            )));
            return Err(e);
        }
        Ok(entry)
    }

    /// How many calls of each method have entered since the daemon started.
    pub fn calls(&self) -> Vec<(Method, u64)> {
        Method::ALL
            .iter()
            .map(|m| (*m, self.calls[m.index()].load(Ordering::Relaxed)))
            .collect()
    }
}

fn request_hash<T: prost::Message>(request: &T) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(request.encode_to_vec());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A call that came through the door. Clones share one audit record.
#[derive(Clone)]
pub struct Entry {
    pub method: Method,
    pub caller: Caller,
    /// When it came in: its deadline counts from here.
    pub entered: Instant,
    home: Option<PathBuf>,
    trust: Arc<Trust>,
    masters: MasterPool,
    record: Arc<record::Pending>,
    /// The approval header of a retried call (`<answer> <challenge>`).
    approval: Option<String>,
    /// What an approval of this call is bound to (empty when no one can be asked).
    request_hash: String,
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

    /// Writes the call's audit record now, ending as `ended` (before the reply goes out).
    pub fn finish(&self, ended: &Ended) {
        self.record.finish(ended);
    }

    /// The answer of a unary call, recorded: ok, or the error's type.
    pub fn settle<R>(
        &self,
        answer: Result<tonic::Response<R>, tonic::Status>,
    ) -> Result<tonic::Response<R>, tonic::Status> {
        match &answer {
            Ok(_) => self.finish(&Ended::ok()),
            Err(status) => self.finish(&Ended::failed(status)),
        }
        answer
    }

    /// The answer of a streaming call: an error is recorded now; a stream records its own end.
    pub fn settle_stream<R>(
        &self,
        answer: Result<tonic::Response<R>, tonic::Status>,
    ) -> Result<tonic::Response<R>, tonic::Status> {
        if let Err(status) = &answer {
            self.finish(&Ended::failed(status));
        }
        answer
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

    fn door_with(shutdown: crate::shutdown::Shutdown) -> (Door, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let trust = Trust::new(dir.path().join("policy.toml"), None, dir.path()).unwrap();
        let config = crate::config::Config::for_tests(dir.path());
        let masters = MasterPool::new(&config, shutdown.clone());
        (
            Door::new(Some("/home/u".into()), shutdown, Arc::new(trust), masters),
            dir,
        )
    }

    fn door() -> (Door, tempfile::TempDir) {
        door_with(crate::shutdown::Shutdown::default())
    }

    #[test]
    fn every_entry_is_counted_under_its_method() {
        let (d, _dir) = door();
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
        let (d, _dir) = door_with(shutdown.clone());
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
