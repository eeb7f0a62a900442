//! Admission: before a call on a host runs, the policy decides on it (its class, every name of
//! its target, the local paths it reads or writes, the ssh files it names), a person approves it
//! when the policy says `ask`, and what was decided goes into the call's audit record. A refusal
//! names the policy file, the rule and the class, so the agent can tell the person what to change.

use std::path::PathBuf;

use ssh_mcp_core::ssh::options::connection::Connection;

use super::Entry;
use super::method::{Class, Method};
use super::record::Admission;
use crate::error::DaemonError;
use crate::trust::Subject;
use crate::trust::approval::{Answer, ChallengeError};
use crate::trust::policy::Verdict;
use crate::trust::policy::local::Landing;

/// A local path a call reads or writes.
#[derive(Debug, Clone)]
pub enum LocalUse {
    /// An upload reads it (a whole tree when `tree`).
    Read { path: PathBuf, tree: bool },
    /// An upload reads what `link`, inside one of its trees, leads to (a tree when `tree`).
    Followed { link: PathBuf, tree: bool },
    /// A download writes into the folder `link`, inside where it lands, leads to.
    WrittenThrough { link: PathBuf },
    /// A download writes there.
    Write(Landing),
}

/// What a call will do, as the door is told before it runs.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// The host it acts on; none for a call that touches no host.
    pub subject: Option<Subject<'a>>,
    /// What it will do, in full (the command, paths, ports): a person approving it sees all of
    /// it; the trail keeps one short line.
    pub summary: String,
    /// More that a person approving the call must see (a command's working directory, its
    /// environment, the shell), and that the trail does not keep (an environment may hold a
    /// token).
    pub details: String,
    pub local: Vec<LocalUse>,
}

impl<'a> Call<'a> {
    pub fn on(subject: Subject<'a>, summary: impl Into<String>) -> Self {
        Self {
            subject: Some(subject),
            summary: summary.into(),
            details: String::new(),
            local: Vec::new(),
        }
    }

    /// A call that touches no host (stopping the daemon).
    pub fn none(summary: impl Into<String>) -> Self {
        Self {
            subject: None,
            summary: summary.into(),
            details: String::new(),
            local: Vec::new(),
        }
    }

    pub fn details(mut self, details: String) -> Self {
        self.details = details;
        self
    }

    pub fn local(mut self, uses: Vec<LocalUse>) -> Self {
        self.local = uses;
        self
    }
}

/// Calls on something a person already approved when it started: asking again on every read of
/// an approved session would only train people to click yes. Stops are never refused: a policy
/// must not keep anything running.
fn follows_an_approval(method: Method) -> bool {
    matches!(
        method,
        Method::SessionsRead | Method::SessionsWrite | Method::SessionsAttach
    )
}

fn always_allowed(method: Method) -> bool {
    matches!(
        method,
        Method::SessionsStop | Method::ForwardsStop | Method::JobsStop
    )
}

impl Entry {
    /// Decides on `call` (see the module doc): `Ok` when it may run now.
    pub async fn admit(&self, call: Call<'_>) -> Result<(), DaemonError> {
        let target = call.subject.map(|s| match s {
            Subject::Connection(c) => c.target.as_str().to_owned(),
            Subject::Written(t) => t.to_owned(),
        });
        let mut admission = Admission {
            target: target.clone(),
            summary: super::one_line(call.summary.clone()),
            decision: None,
            rule: None,
        };
        let result = self.decide(&call, target.as_deref(), &mut admission).await;
        tracing::debug!(
            method = self.method.name(),
            class = self.class().name(),
            target = target.as_deref().unwrap_or(""),
            client = %self.caller.client,
            pid = self.caller.pid,
            decision = admission.decision.unwrap_or("asked"),
            "{}",
            admission.summary
        );
        match &result {
            Err(DaemonError::ApprovalRequired { .. }) => self.record.silence(),
            _ => self.record.admitted(admission),
        }
        result
    }

    async fn decide(
        &self,
        call: &Call<'_>,
        target: Option<&str>,
        admission: &mut Admission,
    ) -> Result<(), DaemonError> {
        let class = self.class();
        let Some(subject) = call.subject else {
            admission.decision = Some("allowed");
            return Ok(());
        };
        let target = target.unwrap_or_default();
        let trust = &self.trust;
        let loaded = trust.loaded();
        let settings = self.masters.settings().ok();
        let names = trust.names(&loaded, settings.as_ref(), subject).await;
        let decision = loaded.decide(&names, class);
        admission.rule = decision.rule.clone();
        let verdict = if always_allowed(self.method) {
            Verdict::Allow
        } else {
            decision.verdict.clone()
        };
        if verdict == Verdict::Deny {
            admission.decision = Some("denied");
            let message = match (&loaded.source, &loaded.error) {
                (crate::trust::Source::Invalid, Some(e)) => format!(
                    "the policy file {} is invalid ({e}), so nothing runs on hosts until it is \
                     fixed; `ssh-mcp policy check` shows what is wrong",
                    trust.path().display()
                ),
                _ => format!(
                    "{} calls on '{target}' are refused by {} in the policy file {}: {} is in \
                     neither its `allow` nor its `ask`. Ask the user to change that rule if this \
                     call is needed.",
                    class.name(),
                    decision.rule_label(),
                    trust.path().display(),
                    class.name()
                ),
            };
            return Err(DaemonError::PolicyDenied(message));
        }
        // A stop is never refused, not even for a connection whose files the rules no longer
        // allow (a session or job that started before they changed).
        if !always_allowed(self.method)
            && let Err(why) = self.check_local(&loaded, call, subject)
        {
            admission.decision = Some("denied");
            admission.rule = Some("[local]".into());
            return Err(DaemonError::PolicyDenied(format!(
                "{why} (the [local] section of the policy file {})",
                trust.path().display()
            )));
        }
        if verdict == Verdict::Allow || follows_an_approval(self.method) {
            admission.decision = Some("allowed");
            return Ok(());
        }
        self.ask(call, target, &decision.rule_label(), admission)
    }

    fn check_local(
        &self,
        loaded: &crate::trust::Loaded,
        call: &Call<'_>,
        subject: Subject<'_>,
    ) -> Result<(), String> {
        let local = &loaded.policy.local;
        let places = self.trust.places();
        if let Subject::Connection(conn) = subject {
            check_ssh_files(local, places, conn)?;
        }
        for u in &call.local {
            match u {
                LocalUse::Read { path, tree } => local.check_read(places, path, *tree)?,
                LocalUse::Followed { link, tree } => {
                    local.check_read(places, link, *tree).map_err(|why| {
                        format!(
                            "the upload would follow the link {} to {}: {why}",
                            link.display(),
                            crate::trust::policy::local::resolve(link).display()
                        )
                    })?
                }
                LocalUse::Write(landing) => local.check_write(places, landing)?,
                LocalUse::WrittenThrough { link } => {
                    let landing = Landing {
                        path: link.clone(),
                        tree: true,
                    };
                    local.check_write(places, &landing).map_err(|why| {
                        format!(
                            "the download would write through the link {} into {}: {why}",
                            link.display(),
                            crate::trust::policy::local::resolve(link).display()
                        )
                    })?
                }
            }
        }
        Ok(())
    }

    /// The policy says `ask`: run on an approval of this very call, else ask for one.
    fn ask(
        &self,
        call: &Call<'_>,
        target: &str,
        rule: &str,
        admission: &mut Admission,
    ) -> Result<(), DaemonError> {
        let binding = format!("{}:{}", self.method.name(), self.request_hash);
        let Some((answer, token)) = self.approval.as_deref().and_then(Answer::parse) else {
            let question = format!(
                "Allow {tool} on '{target}'? The policy ({rule}) asks a person before {class} \
                 calls there.\n\n{what}",
                tool = self.record.tool(),
                class = self.class().name(),
                what = for_a_person(&format!("{}{}", call.summary, call.details)),
            );
            return Err(DaemonError::ApprovalRequired {
                challenge: self.trust.approvals.issue(&binding),
                question,
            });
        };
        if let Err(e) = self.trust.approvals.redeem(token, &binding) {
            admission.decision = Some("denied");
            let hint = match e {
                ChallengeError::Expired => " The question waited too long; call again.",
                _ => "",
            };
            return Err(DaemonError::PolicyDenied(format!("not run: {e}.{hint}")));
        }
        match answer {
            Answer::Approved => {
                admission.decision = Some("approved");
                Ok(())
            }
            Answer::Declined => {
                admission.decision = Some("declined");
                Err(DaemonError::PolicyDenied(format!(
                    "the person declined this {} call on '{target}', so it did not run",
                    self.class().name()
                )))
            }
            Answer::CannotAsk => {
                admission.decision = Some("denied");
                Err(DaemonError::PolicyDenied(format!(
                    "{} calls on '{target}' need a person's approval ({rule} in the policy file \
                     {}), and this MCP client can ask the person neither by elicitation nor by \
                     input_required: use a client with the `elicitation` capability, or ask the \
                     user to change that rule",
                    self.class().name(),
                    self.trust.path().display()
                )))
            }
        }
    }

    pub fn class(&self) -> Class {
        self.method.class()
    }
}

fn check_ssh_files(
    local: &crate::trust::policy::Local,
    places: &crate::trust::policy::local::Places,
    conn: &Connection,
) -> Result<(), String> {
    if let Some(p) = &conn.identity_file {
        local.check_ssh_file(places, "identity_file", p.as_path())?;
    }
    if let Some(p) = &conn.known_hosts_file {
        local.check_ssh_file(places, "known_hosts_file", p.as_path())?;
    }
    Ok(())
}

/// The most of a call's description a question shows: a client must carry the question (as a
/// status message), and a person must be able to read it. Past it, the start and the end are
/// shown with a marker that says how much is left out.
const QUESTION_CHARS: usize = 6000;

/// `text` as a person must see it to judge it: control characters other than newlines and
/// tabs, and the characters that reorder text on screen, written as escapes (`\u{1b}`), so
/// that nothing in a command can hide another part of it from the person (a terminal escape
/// that conceals text, a carriage return that overwrites a line, a right-to-left override).
fn for_a_person(text: &str) -> String {
    let visible: String = text
        .chars()
        .map(|c| {
            let hides = (c.is_control() && c != '\n' && c != '\t')
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            if hides {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect();
    let count = visible.chars().count();
    if count <= QUESTION_CHARS {
        return visible;
    }
    let head: String = visible.chars().take(QUESTION_CHARS * 3 / 4).collect();
    let tail: String = visible.chars().skip(count - QUESTION_CHARS / 4).collect();
    format!(
        "{head}\n[… {} characters not shown: decline unless you know what they are …]\n{tail}",
        count - QUESTION_CHARS
    )
}

#[cfg(test)]
mod tests {
    use super::for_a_person;

    #[test]
    fn nothing_in_a_command_hides_another_part_of_it() {
        let hidden = "ls\u{1b}[8m; rm -rf ~\rcat x\u{202e}txt.exe";
        let shown = for_a_person(hidden);
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\r'),
            "{shown}"
        );
        assert!(
            shown.contains("\\u{1b}[8m; rm -rf ~\\u{d}cat x\\u{202e}txt.exe"),
            "{shown}"
        );
        assert_eq!(for_a_person("a\n\tb"), "a\n\tb");
    }

    #[test]
    fn a_long_command_shows_its_start_and_end_and_says_what_is_missing() {
        let long = format!("START{}END", "x".repeat(20_000));
        let shown = for_a_person(&long);
        assert!(shown.starts_with("START") && shown.ends_with("END"));
        assert!(
            shown.contains("14008 characters not shown"),
            "{}",
            &shown[4400..4700]
        );
        assert!(shown.chars().count() < 6200);
    }
}
