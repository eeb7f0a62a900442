//! The audit record of one call, from the door to its end: [`Pending`] is filled in as the call
//! is admitted and written once — by [`super::Entry::finish`] before the reply goes out, or, for
//! a call that ends without one (its client went away), when the last handle on it drops. So
//! every call that came through the door leaves exactly one line.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::trust::Trust;
use crate::trust::audit::{Record, now_rfc3339};

/// How a call ended, as the trail keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub ok: bool,
    pub exit_code: Option<i32>,
    pub error_type: Option<String>,
}

impl Ended {
    pub fn ok() -> Self {
        Self {
            ok: true,
            exit_code: None,
            error_type: None,
        }
    }

    /// A command that ran to an exit code (or none, killed by a signal or still running).
    pub fn exited(exit_code: Option<i32>) -> Self {
        Self {
            ok: true,
            exit_code,
            error_type: None,
        }
    }

    pub fn failed(status: &tonic::Status) -> Self {
        Self {
            ok: false,
            exit_code: None,
            error_type: Some(ssh_mcp_core::protocol::error_type(status.code()).to_owned()),
        }
    }

    pub fn error_type(error_type: &str) -> Self {
        Self {
            ok: false,
            exit_code: None,
            error_type: Some(error_type.to_owned()),
        }
    }
}

/// What the door learnt of a call so far.
#[derive(Debug, Clone, Default)]
pub struct Admission {
    pub target: Option<String>,
    pub summary: String,
    /// None until the policy decided (a call refused as invalid before that has none).
    pub decision: Option<&'static str>,
    pub rule: Option<String>,
}

/// One call's record until it is written.
pub struct Pending {
    trust: Arc<Trust>,
    started: Instant,
    /// The fields that do not change, set at entry.
    client: String,
    pid: Option<u32>,
    tool: String,
    class: &'static str,
    state: Mutex<Option<Admission>>,
}

impl Pending {
    pub fn new(
        trust: Arc<Trust>,
        caller: &super::Caller,
        method: super::Method,
        started: Instant,
    ) -> Arc<Self> {
        let tool = if caller.tool.is_empty() {
            method.name().to_owned()
        } else {
            caller.tool.clone()
        };
        Arc::new(Self {
            trust,
            started,
            client: caller.client.clone(),
            pid: caller.pid,
            tool,
            class: method.class().name(),
            state: Mutex::new(Some(Admission {
                // Listing and control calls touch no host: the policy always lets them through.
                decision: matches!(
                    method.class(),
                    super::Class::Listing | super::Class::Control
                )
                .then_some("allowed"),
                ..Admission::default()
            })),
        })
    }

    /// Records what the door admitted (or refused), unless the record is written already.
    pub fn admitted(&self, admission: Admission) {
        if let Some(slot) = lock(&self.state).as_mut() {
            *slot = admission;
        }
    }

    /// The tool as the trail names it.
    pub fn tool(&self) -> &str {
        &self.tool
    }

    /// Drops the record unwritten: the call was answered with a question for a person, and its
    /// retry (approved, declined or unanswerable) is the call the trail records.
    pub fn silence(&self) {
        lock(&self.state).take();
    }

    /// Writes the record with `ended`; a second call does nothing.
    pub fn finish(&self, ended: &Ended) {
        let Some(admission) = lock(&self.state).take() else {
            return;
        };
        self.trust.audit.write(&Record {
            time: now_rfc3339(),
            client: self.client.clone(),
            pid: self.pid,
            tool: self.tool.clone(),
            class: self.class,
            target: admission.target,
            decision: admission.decision,
            rule: admission.rule,
            summary: admission.summary,
            outcome: if ended.ok { "ok" } else { "error" },
            exit_code: ended.exit_code,
            error_type: ended.error_type.clone(),
            duration_ms: self.started.elapsed().as_millis() as u64,
        });
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        // The call ended without an answer (its client went away mid-way).
        self.finish(&Ended::error_type("cancelled"));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
