"""Load: fifty MCP clients at once on one daemon, each with its own shim, twenty `ssh_exec` calls
and one session round trip (start, run, stop). Every call answers without error and with its own
output, and the daemon's memory comes back near where it was before the load."""

from __future__ import annotations

import time

import anyio
import pytest

from mcptest import ok_result

pytestmark = pytest.mark.anyio

CLIENTS = 50
CALLS = 20
# The whole load takes well under a minute here; this only keeps a broken daemon from hanging.
DEADLINE = 300


def vm_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


async def one_client(harness, i: int, failures: list[str]) -> None:
    async with harness.client() as client:
        for j in range(CALLS):
            r = await client.call_tool(
                "ssh_exec", {"target": "testhost", "command": f"echo client-{i}-call-{j}"}
            )
            out = r.structured_content or {}
            if r.is_error or out.get("stdout") != f"client-{i}-call-{j}\n" or out.get("exit_code") != 0:
                failures.append(f"client {i} call {j}: {out}")
        s = ok_result(await client.call_tool(
            "ssh_start_session",
            {"target": "testhost", "observer_mode": "transcript", "shell": "/bin/sh"},
        ))
        run = ok_result(await client.call_tool(
            "ssh_run_in_session",
            {"session_id": s["session_id"], "command": f"echo session-{i}-$((6*7))", "timeout": 60},
        ))
        if (run["output"], run["exit_code"]) != (f"session-{i}-42\n", 0):
            failures.append(f"client {i} session: {run}")
        stopped = ok_result(await client.call_tool("ssh_stop_session", {"session_id": s["session_id"]}))
        if stopped["running"]:
            failures.append(f"client {i} session still running after stop: {stopped}")


async def test_fifty_clients_at_once_get_every_answer_right(harness):
    # Warm: the daemon is up and one connection open before the baseline is taken.
    async with harness.client() as client:
        ok_result(await client.call_tool("ssh_exec", {"target": "testhost", "command": "true"}))
    daemon = harness.daemon_pid()
    idle_rss = vm_kib(daemon, "VmRSS")

    failures: list[str] = []
    started = time.monotonic()
    with anyio.fail_after(DEADLINE):
        async with anyio.create_task_group() as tg:
            for i in range(CLIENTS):
                tg.start_soon(one_client, harness, i, failures)
    took = time.monotonic() - started
    assert not failures, f"{len(failures)} failures, first: {failures[:5]}"

    calls = CLIENTS * (CALLS + 3)
    peak = vm_kib(daemon, "VmHWM")
    # Back near idle: what the load allocated is given back (sessions and their rings included),
    # allowing for the allocator's caches and the masters' bookkeeping.
    settled = vm_kib(daemon, "VmRSS")
    print(f"load: {calls} calls by {CLIENTS} clients in {took:.1f} s ({calls / took:.0f}/s); "
          f"daemon RSS idle {idle_rss} KiB, peak {peak} KiB, after {settled} KiB")
    assert settled < idle_rss + 48 * 1024, (
        f"daemon RSS after the load {settled} KiB, idle {idle_rss} KiB, peak {peak} KiB"
    )
    assert harness.daemon_pid() == daemon, "the daemon was replaced during the load"
