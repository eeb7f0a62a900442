//! Approval by a person, the shim's half: when the daemon answers a call with a question (the
//! policy says `ask`), the shim puts it to the person through the MCP client — an elicitation
//! form with one yes/no field — and sends the call again with the daemon's challenge and the
//! answer. The daemon decides what the answer means; the shim never runs anything itself. A
//! client that cannot ask gets the daemon's own refusal, which names the missing capability.
//! Never used to ask for a password or a key.

use std::time::Duration;

use rmcp::RoleServer;
use rmcp::service::{ElicitationError, RequestContext};
use serde::Deserialize;
use ssh_mcp_wire::protocol;

/// How long the person has to answer (the daemon's challenge expires after five minutes).
const ANSWER_WITHIN: Duration = Duration::from_secs(240);

/// The form: one yes/no.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct Approve {
    /// Run this call?
    approve: bool,
}
rmcp::elicit_safe!(Approve);

/// What the person said, as the approval header spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Approved,
    Declined,
    CannotAsk,
}

impl Answer {
    pub fn as_header(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Declined => "declined",
            Self::CannotAsk => "cannot-ask",
        }
    }
}

/// The daemon's challenge, when `status` is a question for a person.
pub fn challenge(status: &tonic::Status) -> Option<String> {
    if status.code() != tonic::Code::PermissionDenied {
        return None;
    }
    status
        .metadata()
        .get(protocol::APPROVAL_CHALLENGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Puts `question` to the person.
pub async fn ask(ctx: &RequestContext<RoleServer>, question: &str) -> Answer {
    let answer = ctx
        .peer
        .elicit_with_timeout::<Approve>(question.to_owned(), Some(ANSWER_WITHIN))
        .await;
    match answer {
        Ok(Some(Approve { approve: true })) => Answer::Approved,
        Ok(_) | Err(ElicitationError::UserDeclined | ElicitationError::UserCancelled) => {
            Answer::Declined
        }
        // No answer in time: nothing runs.
        Err(ElicitationError::Service(rmcp::service::ServiceError::Timeout { .. })) => {
            Answer::Declined
        }
        Err(ElicitationError::CapabilityNotSupported) => Answer::CannotAsk,
        Err(e) => {
            tracing::warn!("could not ask the person: {e}");
            Answer::CannotAsk
        }
    }
}
