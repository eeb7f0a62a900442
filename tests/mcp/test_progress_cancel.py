"""Progress notifications, MCP cancellation and timeouts reaching the remote process group.

The sshd runs on this machine, so the remote processes are visible in /proc. Each remote command
carries a unique marker (in its command line and, via ssh_exec's env, in its environment), so
"nothing left" means: no live process mentions the marker.
"""

from __future__ import annotations

import time

import anyio
import pytest

from mcptest import await_until, ok_result, procs_mentioning

pytestmark = pytest.mark.anyio


async def test_progress_notifications_increase(harness):
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress, total, message):
        seen.append((progress, total, message))

    async with harness.client() as client:
        r = ok_result(
            await client.call_tool(
                "ssh_exec",
                {"target": "testhost", "command": "sleep 3; echo done"},
                progress_callback=on_progress,
            )
        )
    assert r["ok"] and r["stdout"] == "done\n", r
    print(f"progress notifications: {seen}")
    assert len(seen) >= 2, f"expected at least two progress notifications, got {seen}"
    values = [p for p, _, _ in seen]
    assert all(b > a for a, b in zip(values, values[1:])), f"progress not strictly increasing: {seen}"


def _stubborn_command(mark) -> str:
    """A remote command that writes its pid to mark/pid and ignores SIGTERM (so does its sleep)."""
    return f"sh -c 'echo $$ > {mark}/pid; trap \"\" TERM; sleep 300'"


async def _wait_started(mark) -> dict[int, str]:
    """Waits for the pid file and for the remote sleep; returns the processes carrying mark."""
    pidfile = mark / "pid"
    await await_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 20, "the remote pid file")

    def running():
        procs = procs_mentioning(str(mark))
        return procs if any(cmd.startswith("sleep 300") for cmd in procs.values()) else None

    # The check below can only pass if it can see the remote processes in the first place.
    return await await_until(running, 10, "the remote sleep to be visible in /proc")


async def test_cancellation_kills_the_remote_process_group(harness):
    mark = harness.marker_dir("cancel-mark")
    outcome: dict[str, object] = {}
    async with harness.client() as client:
        async with anyio.create_task_group() as tg:
            scope_box: list[anyio.CancelScope] = []

            async def call():
                with anyio.move_on_after(120) as scope:
                    scope_box.append(scope)
                    outcome["result"] = await client.call_tool(
                        "ssh_exec",
                        {"target": "testhost", "command": _stubborn_command(mark), "env": {"SMT_MARK": str(mark)}},
                    )
                outcome["cancelled"] = scope.cancelled_caught

            tg.start_soon(call)
            before = await _wait_started(mark)
            assert len(before) >= 2, before
            cancelled_at = time.monotonic()
            scope_box[0].cancel()  # abandoning the call sends notifications/cancelled

        assert outcome.get("cancelled") is True and "result" not in outcome, outcome
        await await_until(
            lambda: not procs_mentioning(str(mark)),
            10,
            f"the remote processes to end after cancellation (still: {procs_mentioning(str(mark))})",
        )
        elapsed = time.monotonic() - cancelled_at
        # The same client (and its daemon) still works afterwards.
        r = ok_result(await client.call_tool("ssh_exec", {"target": "testhost", "command": "echo again"}))
        assert r["stdout"] == "again\n"
    assert elapsed < 10


async def test_timeout_kills_a_command_that_ignores_sigterm(harness):
    mark = harness.marker_dir("timeout-mark")
    async with harness.client() as client:
        start = time.monotonic()
        r = ok_result(
            await client.call_tool(
                "ssh_exec",
                {
                    "target": "testhost",
                    "command": _stubborn_command(mark),
                    "env": {"SMT_MARK": str(mark)},
                    "timeout": 1,
                },
            )
        )
        took = time.monotonic() - start
        assert r["timed_out"] is True, r
        assert r["ok"] is False
        assert "exit_code" not in r, r
        assert r["signal"] in (9, 15), r
        assert (mark / "pid").exists(), "the command never started"
        assert 1 <= took < 15, took
        await await_until(
            lambda: not procs_mentioning(str(mark)),
            10,
            f"the remote processes to end after the timeout (still: {procs_mentioning(str(mark))})",
        )
