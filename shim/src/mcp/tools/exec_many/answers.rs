//! The answers of `ssh_exec_many`: one row per target, and the groups of targets that answered
//! the same (stdout, stderr and exit code), each answer once, fitted into the result budget.

use rmcp::model::CallToolResponse;
use rmcp::schemars::{self, JsonSchema};
use serde::Serialize;
use ssh_mcp_wire::pb;

use crate::mcp::{budget, schema};

/// One target's outcome. Optional fields are absent rather than null (see `schema.rs`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(transform = schema::portable)]
pub struct Row {
    pub target: String,
    /// exit_code 0, no timeout.
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub duration_ms: u64,
    /// Index in groups of its output; absent when it did not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<usize>,
    /// Its whole output, when the group's shows part of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_id: Option<String>,
    /// Why it did not run (unreachable, refused by the policy...): the error's type and message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Targets that answered the same, and the answer once.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(transform = schema::portable)]
pub struct Group {
    pub targets: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout_base64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr_base64: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(transform = schema::portable)]
pub struct ExecManyResult {
    /// Every target ran and exited 0.
    pub ok: bool,
    pub command: String,
    pub ok_count: usize,
    pub failed_count: usize,
    pub results: Vec<Row>,
    pub groups: Vec<Group>,
    /// Globs that matched no configured host.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmatched: Vec<String>,
}

/// What one target gave: its finished event, or the failure result of its call.
pub(super) enum Answer {
    Finished(pb::Finished),
    Failed { error_type: String, message: String },
}

pub(super) fn failure_of(response: CallToolResponse) -> Answer {
    let (error_type, message) = match response {
        CallToolResponse::Complete(r) => {
            let sc = r.structured_content.unwrap_or_default();
            let text = |k: &str| {
                sc.get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            (text("error_type"), text("message"))
        }
        _ => (
            "approval_required".to_owned(),
            "the policy asks a person about this target: run ssh_exec on it alone".to_owned(),
        ),
    };
    Answer::Failed {
        error_type,
        message,
    }
}

/// What makes two answers the same: stdout and stderr as kept (head and tail), the exit code
/// and the sizes written.
type AnswerKey = (Vec<u8>, Vec<u8>, Option<i32>, u64, u64);

/// Rows and groups from the answers, the groups' outputs fitted into the budget.
pub(super) fn assemble(
    command: String,
    targets: &[String],
    answers: Vec<Answer>,
    unmatched: Vec<String>,
    budget_chars: u32,
) -> ExecManyResult {
    let mut rows = Vec::with_capacity(targets.len());
    let mut keys: Vec<AnswerKey> = Vec::new();
    let mut firsts: Vec<pb::Finished> = Vec::new();
    let mut members: Vec<Vec<String>> = Vec::new();
    for (target, answer) in targets.iter().zip(answers) {
        match answer {
            Answer::Finished(f) => {
                let key = (
                    f.stdout.clone(),
                    f.stderr.clone(),
                    f.exit_code,
                    f.stdout_bytes,
                    f.stderr_bytes,
                );
                let group = match keys.iter().position(|k| *k == key) {
                    Some(g) => g,
                    None => {
                        keys.push(key);
                        firsts.push(f.clone());
                        members.push(Vec::new());
                        keys.len() - 1
                    }
                };
                members[group].push(target.clone());
                rows.push(Row {
                    target: target.clone(),
                    ok: f.exit_code == Some(0) && !f.timed_out,
                    exit_code: f.exit_code,
                    signal: f.signal,
                    timed_out: f.timed_out,
                    duration_ms: f.duration_ms,
                    group: Some(group),
                    output_id: (!f.output_id.is_empty()).then_some(f.output_id),
                    error_type: None,
                    error: None,
                });
            }
            Answer::Failed {
                error_type,
                message,
            } => rows.push(Row {
                target: target.clone(),
                ok: false,
                exit_code: None,
                signal: None,
                timed_out: false,
                duration_ms: 0,
                group: None,
                output_id: None,
                error_type: Some(error_type),
                error: Some(message),
            }),
        }
    }
    let ok_count = rows.iter().filter(|r| r.ok).count();
    let mut result = ExecManyResult {
        ok: ok_count == rows.len(),
        command,
        ok_count,
        failed_count: rows.len() - ok_count,
        results: rows,
        groups: Vec::new(),
        unmatched,
    };
    // What the result takes without the groups' outputs; the rest is shared among the groups.
    let skeleton: Vec<Group> = members
        .iter()
        .zip(&firsts)
        .map(|(targets, f)| empty_group(targets.clone(), f.exit_code))
        .collect();
    result.groups = skeleton;
    let overhead = budget::text_chars(&serde_json::to_string(&result).unwrap_or_default());
    let room = (budget_chars as usize).saturating_sub(overhead);
    let share = room / firsts.len().max(1);
    for (group, mut f) in result.groups.iter_mut().zip(firsts) {
        let streams = budget::streams_of(&mut f);
        let at = budget::Where {
            output_id: (!f.output_id.is_empty()).then_some(f.output_id.as_str()),
        };
        let [out, err] = budget::fit([&streams[0], &streams[1]], share, at);
        group.stdout = out.text;
        group.stdout_base64 = out.base64;
        group.stdout_truncated = out.truncated;
        group.stderr = err.text;
        group.stderr_base64 = err.base64;
        group.stderr_truncated = err.truncated;
    }
    result
}

fn empty_group(targets: Vec<String>, exit_code: Option<i32>) -> Group {
    Group {
        targets,
        exit_code,
        stdout: String::new(),
        stderr: String::new(),
        stdout_truncated: false,
        stderr_truncated: false,
        stdout_base64: None,
        stderr_base64: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(stdout: &str, code: i32) -> Answer {
        Answer::Finished(pb::Finished {
            exit_code: Some(code),
            stdout: stdout.as_bytes().to_vec(),
            stdout_bytes: stdout.len() as u64,
            ..Default::default()
        })
    }

    #[test]
    fn identical_answers_are_one_group_and_failures_have_none() {
        let targets: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let answers = vec![
            finished("same\n", 0),
            finished("same\n", 0),
            finished("same\n", 1),
            Answer::Failed {
                error_type: "connection_error".into(),
                message: "ssh: connect to host d port 22: Connection refused".into(),
            },
        ];
        let r = assemble("cmd".into(), &targets, answers, vec![], 50_000);
        assert_eq!((r.ok_count, r.failed_count, r.ok), (2, 2, false));
        assert_eq!(r.groups.len(), 2);
        assert_eq!(r.groups[0].targets, ["a", "b"]);
        assert_eq!(r.groups[1].targets, ["c"]);
        assert_eq!(r.results[3].group, None);
        assert_eq!(r.results[2].group, Some(1));
        assert!(r.results[3].error.as_deref().unwrap().contains("refused"));
    }

    #[test]
    fn many_different_answers_share_the_budget() {
        let targets: Vec<String> = (0..20).map(|i| format!("h{i}")).collect();
        let answers = (0..20)
            .map(|i| finished(&format!("{i}").repeat(10_000), 0))
            .collect();
        let r = assemble("cmd".into(), &targets, answers, vec![], 50_000);
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.encode_utf16().count() <= 50_000, "{}", text.len());
        assert!(r.groups.iter().all(|g| g.stdout_truncated));
    }
}
