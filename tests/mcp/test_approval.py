"""Approval by a person, through real MCP clients: a call whose class the policy puts in `ask`
runs only after the person says yes — asked by elicitation on 2025-11-25 (legacy) and by an
`input_required` result on 2026-07-28 (auto) — and the question shows the command in full.
Declined: refused, nothing ran. A client that cannot ask: refused, naming the capability.
A session is asked about once, when it starts. The audit trail says what was decided."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from mcp import Client, types

from mcptest import ok_result, structured

pytestmark = pytest.mark.anyio

TARGET = "testhost"
WIDE_LOCAL = '[local]\nread = ["/"]\nwrite = ["/"]\nssh_files = ["/"]\n'


def ask_policy(harness, classes: str = '["exec", "session"]') -> None:
    path = harness.dir / "config" / "ssh-mcp" / "policy.toml"
    path.write_text(f"[default]\nask = {classes}\n\n" + WIDE_LOCAL)


def answering(approve: bool | None, questions: list[str]):
    """An elicitation callback that records each question and answers yes, no, or declines the
    form (None)."""

    async def callback(context, params: types.ElicitRequestParams):
        questions.append(params.message)
        if approve is None:
            return types.ElicitResult(action="decline")
        return types.ElicitResult(action="accept", content={"approve": approve})

    return callback


def client(harness, mode: str, callback=None) -> Client:
    return Client(harness.params(), mode=mode, elicitation_callback=callback)


def audit(harness) -> list[dict]:
    path = harness.state_dir / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_yes_runs_the_call_and_a_no_runs_nothing(harness, tmp_path, mode):
    ask_policy(harness)
    marker = tmp_path / f"ran-{mode}"
    command = f"echo approved-run > {marker}; echo done"
    questions: list[str] = []
    with anyio.fail_after(90):
        async with client(harness, mode, answering(True, questions)) as c:
            r = ok_result(await c.call_tool("ssh_exec", {
                "target": TARGET, "command": command, "env": {"SMT_SEEN": "by-the-person"}}))
            assert r["stdout"] == "done\n"
            assert marker.read_text() == "approved-run\n"
            # Reads are not asked about.
            ok_result(await c.call_tool("ssh_view", {"target": TARGET, "path": "/etc/hostname"}))
    assert len(questions) == 1, questions
    assert command in questions[0], questions[0]
    assert "ssh_exec" in questions[0] and TARGET in questions[0], questions[0]
    # What else decides what runs is shown too, though the audit trail keeps only the command.
    assert "with environment: SMT_SEEN=by-the-person" in questions[0], questions[0]
    assert "by-the-person" not in (harness.state_dir / "audit.jsonl").read_text()

    marker.unlink()
    for answer in (False, None):
        asked: list[str] = []
        async with client(harness, mode, answering(answer, asked)) as c:
            r = await c.call_tool("ssh_exec", {"target": TARGET, "command": command})
            sc = structured(r)
            assert r.is_error and sc["error_type"] == "policy_denied", sc
            assert "declined" in sc["message"], sc
        assert len(asked) == 1
        assert not marker.exists(), "a declined command ran"

    decisions = [(e["tool"], e["decision"]) for e in audit(harness) if e["tool"] == "ssh_exec"]
    assert decisions == [("ssh_exec", "approved"), ("ssh_exec", "declined"), ("ssh_exec", "declined")]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_client_that_cannot_ask_is_refused_and_told_why(harness, tmp_path, mode):
    ask_policy(harness)
    marker = tmp_path / "never"
    with anyio.fail_after(60):
        async with client(harness, mode) as c:
            r = await c.call_tool("ssh_exec", {"target": TARGET, "command": f"touch {marker}"})
    sc = structured(r)
    assert r.is_error and sc["error_type"] == "policy_denied", sc
    assert "elicitation" in sc["message"] and "approval" in sc["message"], sc["message"]
    assert not marker.exists()


async def test_a_session_is_asked_about_once_when_it_starts(harness):
    ask_policy(harness, '["session"]')
    questions: list[str] = []
    with anyio.fail_after(90):
        async with client(harness, "legacy", answering(True, questions)) as c:
            s = ok_result(await c.call_tool("ssh_start_session", {"target": TARGET, "session_name": "asked"}))
            sid = s["session_id"]
            ok_result(await c.call_tool("ssh_write_session", {"session_id": sid, "input": "echo hi\n"}))
            ok_result(await c.call_tool("ssh_read_session", {"session_id": sid}))
            ok_result(await c.call_tool("ssh_stop_session", {"session_id": sid}))
    assert len(questions) == 1, questions
    assert "ssh_start_session" in questions[0]


async def test_a_replayed_or_altered_challenge_is_refused(harness, tmp_path):
    """Drives the 2026-07-28 rounds by hand: the challenge of one call does not run another
    (altered arguments), is not accepted twice (replay), and cannot be forged."""
    ask_policy(harness)
    marker = tmp_path / "ran"
    args = {"target": TARGET, "command": f"echo run >> {marker}"}
    yes = {"approve": types.ElicitResult(action="accept", content={"approve": True})}
    with anyio.fail_after(90):
        async with client(harness, "auto", answering(True, [])) as c:
            first = await c.session.call_tool("ssh_exec", args, allow_input_required=True)
            assert isinstance(first, types.InputRequiredResult), first
            state = first.request_state
            assert state

            async def retry(arguments: dict, request_state: str):
                return await c.session.call_tool(
                    "ssh_exec", arguments, input_responses=yes, request_state=request_state,
                    allow_input_required=True)

            altered = await retry({**args, "command": f"echo altered >> {marker}"}, state)
            assert altered.is_error and "different call" in structured(altered)["message"], altered
            forged = await retry(args, state[:-4] + ("AAAA" if not state.endswith("AAAA") else "BBBB"))
            assert forged.is_error and "not one this daemon issued" in structured(forged)["message"]
            assert not marker.exists(), "an altered or forged approval ran something"
            ok_result(await retry(args, state))
            assert marker.read_text() == "run\n"
            replayed = await retry(args, state)
            assert replayed.is_error and "used already" in structured(replayed)["message"], replayed
            assert marker.read_text() == "run\n", "a replayed approval ran the command again"
