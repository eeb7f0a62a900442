//! Approval by a person, the shim's half. When the daemon answers a call with a question (the
//! policy says `ask`), the shim puts it to the person through the MCP client and sends the call
//! again with the daemon's challenge and the answer:
//! - up to protocol 2025-11-25, by elicitation: a form with one yes/no field, asked while the
//!   call waits;
//! - from 2026-07-28 (no requests from server to client), as an `input_required` result that
//!   carries the same form and the challenge as `requestState`; the client asks the person and
//!   retries the call with the answer ([`Resumed`]).
//!
//! The daemon decides what an answer means and checks the challenge (its own, for this very
//! request, once); the shim never runs anything itself. A client that can do neither gets the
//! daemon's refusal, which names the missing capability. Never used to ask for a password or key.

use std::collections::BTreeMap;
use std::time::Duration;

use rmcp::RoleServer;
use rmcp::model::{
    ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema,
    InputRequest, InputRequiredResult, ProtocolVersion,
};
use rmcp::service::{ElicitationError, RequestContext};
use serde::Deserialize;
use ssh_mcp_wire::protocol;

/// How long the person has to answer (the daemon's challenge expires after five minutes).
const ANSWER_WITHIN: Duration = Duration::from_secs(240);

/// The key of the one input request in an `input_required` result.
const INPUT_KEY: &str = "approve";

/// The form: one yes/no.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct Approve {
    /// Run this call?
    approve: bool,
}
rmcp::elicit_safe!(Approve);

/// What the person said (the header's spelling is the wire crate's).
pub use ssh_mcp_wire::protocol::ApprovalAnswer as Answer;

/// What asking gave.
#[derive(Debug)]
pub enum Asked {
    /// The person answered (or could not be asked): send the call again with it.
    Answer(Answer),
    /// Ask in the result; the client retries with the answer.
    Later(InputRequiredResult),
}

/// The answer a client brought back with the retry of an `input_required` result.
#[derive(Debug, Clone)]
pub struct Resumed {
    challenge: String,
    answer: Answer,
}

impl Resumed {
    /// The answer in a retried call's `requestState` and `inputResponses`, if it is one.
    pub fn of(
        state: Option<String>,
        responses: Option<rmcp::model::InputResponses>,
    ) -> Option<Self> {
        let challenge = state?;
        let answer = responses
            .as_ref()
            .and_then(|r| r.get(INPUT_KEY))
            .and_then(|v| serde_json::from_value::<ElicitResult>(v.clone()).ok())
            .map_or(Answer::Declined, |r| answer_of(&r));
        Some(Self { challenge, answer })
    }

    pub fn header(&self) -> String {
        self.answer.header(&self.challenge)
    }
}

fn answer_of(result: &ElicitResult) -> Answer {
    let approved = result.action == ElicitationAction::Accept
        && result
            .content
            .as_ref()
            .and_then(|c| serde_json::from_value::<Approve>(c.clone()).ok())
            .is_some_and(|a| a.approve);
    if approved {
        Answer::Approved
    } else {
        Answer::Declined
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

/// Puts `question` to the person, in the way the client's protocol allows.
pub async fn ask(ctx: &RequestContext<RoleServer>, question: &str, challenge: &str) -> Asked {
    let modern = ctx
        .protocol_version()
        .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28);
    if modern {
        let can_elicit = ctx
            .client_capabilities()
            .is_some_and(|c| c.elicitation.is_some());
        return match (can_elicit, input_required(question, challenge)) {
            (true, Some(result)) => Asked::Later(result),
            _ => Asked::Answer(Answer::CannotAsk),
        };
    }
    let answer = ctx
        .peer
        .elicit_with_timeout::<Approve>(question.to_owned(), Some(ANSWER_WITHIN))
        .await;
    Asked::Answer(match answer {
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
    })
}

/// The `input_required` result that asks `question`, carrying the daemon's challenge.
fn input_required(question: &str, challenge: &str) -> Option<InputRequiredResult> {
    let schema = match ElicitationSchema::from_type::<Approve>() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("the approval form's schema: {e}");
            return None;
        }
    };
    let request = ElicitRequest::new(ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: question.to_owned(),
        requested_schema: schema,
    });
    let requests = BTreeMap::from([(INPUT_KEY.to_owned(), InputRequest::Elicitation(request))]);
    Some(InputRequiredResult::new(
        Some(requests),
        Some(challenge.to_owned()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_accepted_yes_approves() {
        let yes = ElicitResult::new(ElicitationAction::Accept)
            .with_content(serde_json::json!({"approve": true}));
        let no = ElicitResult::new(ElicitationAction::Accept)
            .with_content(serde_json::json!({"approve": false}));
        let declined = ElicitResult::new(ElicitationAction::Decline);
        assert_eq!(answer_of(&yes), Answer::Approved);
        assert_eq!(answer_of(&no), Answer::Declined);
        assert_eq!(answer_of(&declined), Answer::Declined);
        let responses = |r: &ElicitResult| {
            Some(BTreeMap::from([(
                INPUT_KEY.to_owned(),
                serde_json::to_value(r).unwrap(),
            )]))
        };
        let resumed = Resumed::of(Some("C".into()), responses(&yes)).unwrap();
        assert_eq!(resumed.header(), "approved C");
        let resumed = Resumed::of(Some("C".into()), None).unwrap();
        assert_eq!(resumed.header(), "declined C");
        assert!(Resumed::of(None, responses(&yes)).is_none());
    }

    #[test]
    fn the_question_travels_with_its_challenge() {
        let r = input_required("Allow ssh_exec?\n\nrm -rf /tmp/x", "TOKEN").unwrap();
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["requestState"], "TOKEN");
        assert_eq!(v["resultType"], "input_required");
        let ask = &v["inputRequests"][INPUT_KEY];
        assert_eq!(ask["method"], "elicitation/create");
        assert!(
            ask["params"]["message"]
                .as_str()
                .unwrap()
                .contains("rm -rf /tmp/x")
        );
        assert_eq!(
            ask["params"]["requestedSchema"]["properties"]["approve"]["type"],
            "boolean"
        );
    }
}
