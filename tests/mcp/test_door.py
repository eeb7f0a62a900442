"""Every tool call enters the daemon through its one door: each of the 18 tools, called through
a real MCP client, moves the door's counter of exactly the gRPC method that serves it (as
`ssh-mcp daemon status` reports the counters), and nothing else's."""

from __future__ import annotations

import json
import socket

import anyio
import pytest

from mcptest import ok_result

pytestmark = pytest.mark.anyio

TARGET = "testhost"

# Each tool and the daemon method behind it (the daemon's door::Method names).
METHOD = {
    "ssh_exec": "Exec/Run",
    "ssh_view": "Files/View",
    "ssh_create": "Files/Create",
    "ssh_edit": "Files/Edit",
    "ssh_grep": "Search/Grep",
    "ssh_glob": "Search/Glob",
    "ssh_start_session": "Sessions/Open",
    "ssh_ensure_session": "Sessions/Open",
    "ssh_write_session": "Sessions/Write",
    "ssh_read_session": "Sessions/Read",
    "ssh_run_in_session": "Sessions/Run",
    "ssh_list_sessions": "Sessions/List",
    "ssh_stop_session": "Sessions/Stop",
    "ssh_scp": "Transfers/Scp",
    "ssh_sync": "Transfers/Sync",
    "ssh_forward": "Forwards/Open",
    "ssh_list_forwards": "Forwards/List",
    "ssh_stop_forward": "Forwards/Stop",
    "ssh_read_output": "Outputs/Read",
    "ssh_stop_job": "Jobs/Stop",
    "ssh_list_jobs": "Jobs/List",
    "ssh_hosts": "Hosts/List",
    # One Exec/Run per target.
    "ssh_exec_many": "Exec/Run",
}


def door_calls(harness) -> dict[str, int]:
    """The door's counters from `ssh-mcp daemon status` ("calls: Exec/Run 2, ..."), without
    Control/Status (which the status command itself moves)."""
    line = harness.status().get("calls", "")
    calls = {}
    for item in filter(None, (part.strip() for part in line.split(","))):
        method, count = item.rsplit(" ", 1)
        calls[method] = int(count)
    calls.pop("Control/Status", None)
    return calls


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_each_tool_goes_through_the_door_to_its_own_method(harness, tmp_path):
    local = tmp_path / "up.txt"
    local.write_text("door\n")
    remote_dir = f"/tmp/door-{tmp_path.name}"
    seen: set[str] = set()
    calls_made: list[str] = ["ssh_list_sessions"]  # the first call below, before `call`
    with anyio.fail_after(120):
        async with harness.client() as client:
            ok_result(await client.call_tool("ssh_list_sessions", {}))  # the daemon is up
            before = door_calls(harness)

            async def call(tool: str, args: dict) -> dict:
                nonlocal before
                result = ok_result(await client.call_tool(tool, args))
                after = door_calls(harness)
                moved = {m: after.get(m, 0) - before.get(m, 0) for m in after}
                moved = {m: d for m, d in moved.items() if d}
                assert moved == {METHOD[tool]: 1}, f"{tool}: door counters moved {moved}"
                before = after
                seen.add(tool)
                calls_made.append(tool)
                return result

            await call("ssh_exec", {"target": TARGET, "command": f"mkdir -p {remote_dir}"})
            await call("ssh_create", {"target": TARGET, "path": f"{remote_dir}/f", "content": "a\n"})
            await call("ssh_edit", {"target": TARGET, "path": f"{remote_dir}/f",
                                    "edits": [{"old_str": "a", "new_str": "b"}]})
            await call("ssh_view", {"target": TARGET, "path": f"{remote_dir}/f"})
            await call("ssh_grep", {"target": TARGET, "pattern": "b", "path": remote_dir})
            await call("ssh_glob", {"target": TARGET, "pattern": "*", "path": remote_dir})
            started = await call("ssh_start_session", {"target": TARGET, "session_name": "door"})
            sid = started["session_id"]
            await call("ssh_ensure_session", {"target": TARGET, "session_name": "door"})
            await call("ssh_write_session", {"session_id": sid, "input": "echo typed-secret-4711\n"})
            await call("ssh_read_session", {"session_id": sid})
            await call("ssh_run_in_session", {"session_id": sid, "command": "true"})
            await call("ssh_list_sessions", {})
            await call("ssh_stop_session", {"session_id": sid})
            await call("ssh_scp", {"target": TARGET, "direction": "upload",
                                   "sources": [str(local)], "destination": f"{remote_dir}/up.txt"})
            await call("ssh_sync", {"target": TARGET, "direction": "download",
                                    "source": f"{remote_dir}/", "destination": str(tmp_path / "down")})
            fwd = await call("ssh_forward", {"target": TARGET, "direction": "local",
                                             "local_port": free_port(), "remote_host": "127.0.0.1",
                                             "remote_port": 22})
            await call("ssh_list_forwards", {})
            await call("ssh_stop_forward", {"forward_id": fwd["forward_id"]})
            # 108,894 bytes of output: more than a result shows, so the rest is read by its id.
            cut = await call("ssh_exec", {"target": TARGET, "command": f"rm -rf {remote_dir}; seq 1 20000"})
            await call("ssh_read_output", {"output_id": cut["output_id"], "max_bytes": 100})
            job = await call("ssh_exec", {"target": TARGET, "command": "sleep 30", "background": True})
            await call("ssh_list_jobs", {})
            await call("ssh_hosts", {})
            await call("ssh_exec_many", {"targets": [TARGET], "command": "true"})
            await call("ssh_stop_job", {"job_id": job["job_id"]})
            # Read to its (empty) end, the ended job's files leave the host.
            await call("ssh_read_output", {"output_id": job["job_id"]})
    tools = {t.name for t in (await _list_tools(harness))}
    assert seen == tools == set(METHOD), f"not called: {tools - seen}"
    check_audit_trail(harness, calls_made)


def check_audit_trail(harness, calls_made: list[str]) -> None:
    """One audit line per tool call, in order, with every field; typed input never in it."""
    path = harness.state_dir / "audit.jsonl"
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text()
    assert "typed-secret-4711" not in text, "a session's typed input reached the audit trail"
    records = [json.loads(line) for line in text.splitlines()]
    assert [r["tool"] for r in records] == calls_made
    for r in records:
        assert set(r) >= {"time", "client", "pid", "tool", "class", "target", "decision", "rule",
                          "summary", "outcome", "exit_code", "error_type", "duration_ms"}, r
        assert r["client"].startswith("mcp/"), r
        assert r["decision"] == "allowed" and r["outcome"] == "ok", r
    by_tool: dict[str, dict] = {}
    for r in records:
        by_tool.setdefault(r["tool"], r)  # each tool's first call
    assert by_tool["ssh_exec"]["exit_code"] == 0 and by_tool["ssh_exec"]["class"] == "exec"
    assert by_tool["ssh_exec"]["target"] == TARGET
    assert by_tool["ssh_write_session"]["summary"].startswith("write 23 bytes"), by_tool["ssh_write_session"]
    assert by_tool["ssh_scp"]["class"] == "transfer" and "up.txt" in by_tool["ssh_scp"]["summary"]
    assert by_tool["ssh_list_sessions"]["target"] is None
    shown = harness.cli("audit", "-n", str(len(records)))
    assert shown.returncode == 0, shown
    table = shown.stdout.splitlines()
    assert len(table) == len(records) + 1, shown.stdout  # a header, then one row per call
    assert all(t in shown.stdout for t in set(calls_made))
    as_json = harness.cli("audit", "-n", "2", "--json", "--tool", "ssh_exec")
    assert [json.loads(line)["tool"] for line in as_json.stdout.splitlines()] == ["ssh_exec"] * 2


async def test_a_refused_call_still_came_through_the_door(harness):
    with anyio.fail_after(60):
        async with harness.client() as client:
            ok_result(await client.call_tool("ssh_list_sessions", {}))
            before = door_calls(harness).get("Exec/Run", 0)
            r = await client.call_tool("ssh_exec", {"target": "-oProxyCommand=x", "command": "id"})
            assert r.is_error, r
            assert door_calls(harness).get("Exec/Run", 0) == before + 1


async def _list_tools(harness):
    async with harness.client() as client:
        return (await client.list_tools()).tools


async def test_the_door_knows_the_mcp_client_behind_a_call(harness):
    """The shim names its MCP client (clientInfo from initialize) to the daemon, whose door logs
    it with the call's summary before the call reaches the host."""
    marker = f"door-{harness.dir.name}"
    with anyio.fail_after(60):
        async with harness.client(SSH_MCP_LOG="debug") as client:
            ok_result(await client.call_tool("ssh_exec", {"target": TARGET, "command": f"echo {marker}"}))
    admitted = [line for line in harness.log_tail().splitlines() if f"echo {marker}" in line]
    assert admitted, harness.log_tail()
    line = admitted[0]
    assert 'method="Exec/Run"' in line and 'class="exec"' in line, line
    assert 'target="testhost"' in line, line
    assert "client=mcp/" in line, line
    assert "pid=" in line, line


async def test_a_sessions_typed_input_never_reaches_the_log(harness):
    """What an agent types into a session may be a password: the door's line for a write gives
    its length, never its bytes."""
    secret = f"hunter2-{harness.dir.name}"
    with anyio.fail_after(60):
        async with harness.client(SSH_MCP_LOG="debug") as client:
            sid = ok_result(await client.call_tool("ssh_start_session", {"target": TARGET}))["session_id"]
            written = ok_result(await client.call_tool(
                "ssh_write_session", {"session_id": sid, "input": f": {secret}\n"}))
            assert written["bytes_written"] == len(secret) + 3, written
            ok_result(await client.call_tool("ssh_stop_session", {"session_id": sid}))
    log = (harness.state_dir / "ssh-mcpd.log").read_text(errors="replace")
    assert f"write {len(secret) + 3} bytes to session {sid}" in log, log[-4000:]
    assert secret not in log, "the typed input is in the daemon's log"
