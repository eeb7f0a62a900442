"""Sessions through real MCP clients: the seed's six session tools on the daemon's Sessions service.

Sessions belong to the daemon, so they outlive the client that started them; every client reads
with its own cursor (one reader id per shim process). Reads wait with wait_seconds and loop until
the expected text arrives, under an overall deadline. Markers are computed by the shell
(`$((6*7))`), so the terminal's echo of the typed line never matches them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import anyio
import jsonschema
import pytest

from mcptest import RawShim, base_env, ok_result, structured

pytestmark = pytest.mark.anyio

TARGET = "testhost"
# The sessions run /bin/sh: the tests run as the current user, whose interactive bash start-up
# files are not the subject here and may be slow (a pyenv rehash waits up to 60 s for its lock,
# and a session stopped during it leaves the lock behind for every later login).
SHELL = "/bin/sh"
# Every test stays well within this; it only keeps a broken daemon from hanging the run.
TEST_DEADLINE = 180


async def call(client, tool: str, args: dict) -> dict:
    return ok_result(await client.call_tool(tool, args))


async def failure(client, tool: str, args: dict) -> dict:
    r = await client.call_tool(tool, args)
    sc = structured(r)
    assert r.is_error, f"{tool} {args} should have failed: {sc}"
    assert sc["ok"] is False and sc["error_type"] and sc["message"], sc
    return sc


async def start(client, **args) -> dict:
    # transcript: the tests do not depend on tmux being installed.
    return await call(client, "ssh_start_session",
                      {"target": TARGET, "observer_mode": "transcript", "shell": SHELL, **args})


async def ensure(client, **args) -> dict:
    return await call(client, "ssh_ensure_session",
                      {"target": TARGET, "observer_mode": "transcript", "shell": SHELL, **args})


async def read_until(client, sid: str, marker: str, *, seen: str = "", timeout: float = 60, **extra):
    """Reads session sid until marker has appeared in seen + what was read. Returns (text, reads)."""
    deadline = time.monotonic() + timeout
    text, reads = seen, []
    while marker not in text:
        assert time.monotonic() < deadline, (
            f"timed out after {timeout}s waiting for {marker!r} in session {sid}; got {text[-2000:]!r}"
        )
        r = await call(client, "ssh_read_session", {"session_id": sid, "wait_seconds": 1, **extra})
        reads.append(r)
        text += r["output"]
        assert r["running"] or r["truncated"] or marker in text, f"session ended before {marker!r}: {r}"
    return text, reads


async def type_and_wait(client, sid: str, line: str, marker: str, **extra) -> str:
    """Types line into the session, then reads until marker appears; returns all output seen."""
    w = await call(client, "ssh_write_session", {"session_id": sid, "input": line, "wait_seconds": 1, **extra})
    assert w["bytes_written"] == len(line.encode()), w
    text, _ = await read_until(client, sid, marker, seen=w["output"], **extra)
    return text


def assert_contiguous(reads: list[dict]) -> None:
    """Each read starts where the previous one left this reader's cursor, unless output was dropped,
    and a read's offsets span exactly its output's bytes."""
    for prev, r in zip(reads, reads[1:]):
        assert r["output_offset"] == prev["next_offset"] + r["dropped_bytes"], (prev, r)
    for r in reads:
        assert r["next_offset"] - r["output_offset"] == len(r["output"].encode()), r


async def test_a_named_session_outlives_its_client_and_is_found_by_name(harness):
    with anyio.fail_after(TEST_DEADLINE):
        async with harness.client() as first:
            tools = {t.name: t for t in (await first.list_tools()).tools}
            s = await start(first, session_name="keep-env")
            jsonschema.validate(s, tools["ssh_start_session"].output_schema)
            sid = s["session_id"]
            assert s["running"] is True and s["target"] == TARGET, s
            assert s["session_name"] == "keep-env", s
            assert s["created"] is True and s["reused"] is False, s
            assert "exit_code" not in s and "exit_reason" not in s, "absent while running, not null"
            assert s["observer"]["requested_mode"] == "transcript", s
            await type_and_wait(first, sid, "export FOO=bar; echo set-$((40+2))\n", "set-42")

        # The first client (its shim process) has gone; the daemon keeps the shell.
        async with harness.client() as second:
            e = await ensure(second, session_name="keep-env")
            jsonschema.validate(e, tools["ssh_ensure_session"].output_schema)
            assert e["session_id"] == sid, e
            assert e["reused"] is True and e["created"] is False, e
            assert e["matched_by"] == "session_name", e
            assert e["running"] is True, e
            text = await type_and_wait(second, sid, 'echo "foo=$FOO-$((1+1))"\n', "foo=bar-2")
            assert "foo=bar-2" in text
            stopped = await call(second, "ssh_stop_session", {"session_id": sid})
            jsonschema.validate(stopped, tools["ssh_stop_session"].output_schema)
            assert stopped["running"] is False and stopped["was_running"] is True, stopped


CSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def digit_lines(text: str) -> list[int]:
    """The lines that are only a number (a line may start after a terminal mode switch and a \\r)."""
    lines = CSI.sub("", text).split("\n")
    return [int(line.strip("\r")) for line in lines if line.strip("\r").isdigit()]


async def test_two_clients_each_read_all_output_with_their_own_cursor(harness):
    with anyio.fail_after(TEST_DEADLINE):
        async with harness.client() as writer, harness.client() as watcher:
            s = await start(writer, session_name="shared")
            sid = s["session_id"]
            w = await ensure(watcher, session_name="shared")
            assert w["session_id"] == sid and w["reused"] is True, w

            seen: dict[str, str] = {}
            watcher_reads: list[dict] = [w]

            async def watch():
                text, reads = await read_until(watcher, sid, "done-42", seen=w["output"])
                watcher_reads.extend(reads)
                seen["watcher"] = text

            async def write():
                seen["writer"] = await type_and_wait(writer, sid, "seq 1 2000; echo done-$((6*7))\n", "done-42")

            async with anyio.create_task_group() as tg:
                tg.start_soon(watch)
                tg.start_soon(write)

            expected = list(range(1, 2001))
            for who, text in seen.items():
                assert digit_lines(text) == expected, f"{who} did not read seq's output exactly once: {text[:600]!r}"
            assert_contiguous(watcher_reads)
            read_schema = {t.name: t for t in (await watcher.list_tools()).tools}["ssh_read_session"].output_schema
            for r in watcher_reads:
                jsonschema.validate(r, read_schema)
            assert all(r["dropped_bytes"] == 0 for r in watcher_reads), watcher_reads

            # An offset reads again what has been read already, from that byte on.
            first_digits = next(r for r in watcher_reads if digit_lines(r["output"]))
            again = await call(watcher, "ssh_read_session", {
                "session_id": sid, "offset": first_digits["output_offset"], "wait_seconds": 0,
                "max_output_chars": 40,
            })
            assert again["output_offset"] == first_digits["output_offset"], again
            assert again["output"] == first_digits["output"][:40], again
            assert again["truncated"] is True and again["pending_output_chars"] > 0, again

            # Any client may type into the session; the others see it.
            await type_and_wait(watcher, sid, "echo from-watcher-$((2*4))\n", "from-watcher-8")
            await read_until(writer, sid, "from-watcher-8")
            await call(writer, "ssh_stop_session", {"session_id": sid})


FLOOD_BYTES = 16 * 1024 * 1024  # four times the daemon's default 4 MiB output buffer


async def drain(client, sid: str, marker: str, timeout: float = 150) -> list[dict]:
    """Reads until marker arrives, in large pieces, keeping only what the checks need."""
    deadline = time.monotonic() + timeout
    reads, tail = [], ""
    while marker not in tail:
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {marker!r}: {tail[-300:]!r}"
        r = await call(client, "ssh_read_session", {
            "session_id": sid, "wait_seconds": 1, "max_output_chars": 1_000_000,
        })
        tail = (tail + r["output"])[-4096:]
        reads.append({k: r[k] for k in ("output_offset", "next_offset", "dropped_bytes", "truncated", "running")})
    return reads


async def test_a_reader_that_fell_behind_a_flood_is_told_what_it_missed(harness):
    with anyio.fail_after(TEST_DEADLINE):
        async with harness.client() as fast, harness.client() as slow:
            s = await start(fast, session_name="flood")
            sid = s["session_id"]
            w = await ensure(slow, session_name="flood")
            assert w["reused"] is True, w
            before = await call(slow, "ssh_read_session", {"session_id": sid, "wait_seconds": 0})

            line = f"head -c {FLOOD_BYTES} /dev/zero | tr '\\0' x; echo; echo flood-$((5*5))\n"
            await call(fast, "ssh_write_session", {"session_id": sid, "input": line, "wait_seconds": 0,
                                                   "max_output_chars": 1})
            fast_reads = await drain(fast, sid, "flood-25")

            # The slow client has not read since before the flood: what left the buffer is gone
            # for it, and it is told how much; then it gets the rest, up to the same end.
            slow_reads = await drain(slow, sid, "flood-25")
            first = slow_reads[0]
            assert first["dropped_bytes"] > 0, slow_reads[:3]
            assert first["output_offset"] == before["next_offset"] + first["dropped_bytes"], (before, first)
            assert_offsets_chain(slow_reads)
            dropped = sum(r["dropped_bytes"] for r in slow_reads)
            received = sum(r["next_offset"] - r["output_offset"] for r in slow_reads)
            assert 0 < received < FLOOD_BYTES, (received, dropped)
            assert slow_reads[-1]["next_offset"] == fast_reads[-1]["next_offset"], (slow_reads[-1], fast_reads[-1])
            assert slow_reads[-1]["next_offset"] - before["next_offset"] > FLOOD_BYTES, slow_reads[-1]
            await call(fast, "ssh_stop_session", {"session_id": sid, "force": True})


def assert_offsets_chain(reads: list[dict]) -> None:
    for prev, r in zip(reads, reads[1:]):
        assert r["output_offset"] == prev["next_offset"] + r["dropped_bytes"], (prev, r)


async def test_start_ensure_list_and_stop_behave_as_the_seeds(harness):
    with anyio.fail_after(TEST_DEADLINE):
        async with harness.client() as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            named = await start(client, session_name="build", wait_seconds=0)
            nid = named["session_id"]

            # A second running session of that name and target is refused, pointing at ensure.
            dup = await failure(client, "ssh_start_session",
                                {"target": TARGET, "session_name": "build", "observer_mode": "transcript",
                                 "shell": SHELL})
            assert dup["error_type"] == "validation_error", dup
            assert "ssh_ensure_session" in dup["message"] and "build" in dup["message"], dup

            # An unnamed ensure does not take the named session: it starts an unnamed one, and
            # reuses that one the next time (matched by target).
            plain = await ensure(client, wait_seconds=0)
            unnamed_id = plain["session_id"]
            assert unnamed_id != nid and plain["created"] is True and plain["reused"] is False, plain
            assert "matched_by" not in plain and "session_name" not in plain, plain
            again = await ensure(client, wait_seconds=0)
            assert again["session_id"] == unnamed_id and again["reused"] is True, again
            assert again["matched_by"] == "target", again
            by_name = await ensure(client, session_name="build", wait_seconds=0)
            assert by_name["session_id"] == nid and by_name["matched_by"] == "session_name", by_name

            # Two unnamed running sessions: an unnamed ensure cannot choose.
            other = await start(client, wait_seconds=0)
            many = await failure(client, "ssh_ensure_session",
                                 {"target": TARGET, "observer_mode": "transcript", "shell": SHELL})
            assert many["error_type"] == "validation_error", many
            assert "session_name" in many["message"] and "ssh_list_sessions" in many["message"], many

            listed = await call(client, "ssh_list_sessions", {})
            jsonschema.validate(listed, tools["ssh_list_sessions"].output_schema)
            assert listed["count"] == len(listed["sessions"]) == 3, listed
            assert {x["session_id"] for x in listed["sessions"]} == {nid, unnamed_id, other["session_id"]}
            assert all(x["output"] == "" and x["truncated"] is False for x in listed["sessions"]), listed
            only = await call(client, "ssh_list_sessions", {"session_name": "build", "target": TARGET})
            assert [x["session_id"] for x in only["sessions"]] == [nid], only

            stopped = await call(client, "ssh_stop_session", {"session_id": nid})
            assert stopped["running"] is False and stopped["was_running"] is True, stopped
            # The daemon hangs the terminal up first; the shell may end of that.
            assert stopped["termination_signal"] in ("SIGHUP", "SIGTERM", "SIGKILL"), stopped
            assert stopped["exit_reason"], stopped
            exited = await call(client, "ssh_list_sessions", {"include_exited": True})
            assert {x["session_id"]: x["running"] for x in exited["sessions"]}[nid] is False, exited
            running = await call(client, "ssh_list_sessions", {"include_exited": False})
            assert nid not in {x["session_id"] for x in running["sessions"]}, running
            assert running["count"] == 2, running

            # The name is free again once its session has exited.
            renamed = await start(client, session_name="build", wait_seconds=0)
            assert renamed["session_id"] != nid and renamed["created"] is True, renamed

            # Writing to an exited session is refused; it stays readable.
            gone = await failure(client, "ssh_write_session", {"session_id": nid, "input": "true\n"})
            assert gone["error_type"] == "validation_error", gone
            assert nid in gone["message"], gone
            after = await call(client, "ssh_read_session", {"session_id": nid, "wait_seconds": 0})
            assert after["running"] is False, after

            for tool, extra in (("ssh_read_session", {}), ("ssh_write_session", {"input": "x"}),
                                ("ssh_stop_session", {})):
                unknown = await failure(client, tool, {"session_id": "no-such-session", **extra})
                assert unknown["error_type"] == "session_not_found", unknown
                assert unknown["message"] == "Unknown session_id 'no-such-session'.", unknown

            for sid in (unnamed_id, other["session_id"], renamed["session_id"]):
                await call(client, "ssh_stop_session", {"session_id": sid, "force": True, "wait_seconds": 0})


async def test_terminal_size_screen_and_ansi_stripping(harness):
    with anyio.fail_after(TEST_DEADLINE):
        async with harness.client() as client:
            s = await start(client, rows=30, cols=100)
            sid = s["session_id"]
            assert (s["rows"], s["cols"]) == (30, 100), s
            text = await type_and_wait(client, sid, "stty size; echo sz-$((2+3))\n", "sz-5")
            assert "30 100" in text, text

            text = await type_and_wait(client, sid, "printf '\\033[1mBOLD\\033[0m-%s\\n' $((3*3))\n", "BOLD-9",
                                       strip_ansi=True)
            assert "\x1b[" not in text, text

            shot = await call(client, "ssh_read_session", {"session_id": sid, "wait_seconds": 0, "screen": True})
            screen = shot["screen"]
            assert len(screen["rows"]) == 30, screen
            assert any("BOLD-9" in row for row in screen["rows"]), screen
            assert 0 <= screen["cursor_row"] < 30 and 0 <= screen["cursor_col"] < 100, screen
            plain = await call(client, "ssh_read_session", {"session_id": sid, "wait_seconds": 0})
            assert "screen" not in plain, "the screen comes only when asked for"

            d = await call(client, "ssh_start_session", {"target": TARGET, "observer_mode": "transcript",
                                                         "shell": SHELL, "wait_seconds": 0})
            assert (d["rows"], d["cols"]) == (50, 200), d
            for sid_ in (sid, d["session_id"]):
                await call(client, "ssh_stop_session", {"session_id": sid_, "force": True})


def tool_call(id_: int, name: str, arguments_json: str) -> bytes:
    """A tools/call line whose arguments are given as raw JSON text (for values json.dumps will not write)."""
    head = json.dumps({"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": {"name": name}})
    return (head[:-2] + f', "arguments": {arguments_json}}}}}').encode()


def test_bad_wait_seconds_are_refused_and_start_nothing(harness):
    shim = RawShim({**base_env(), **harness.env}, harness.dir / "raw-shim.err")
    try:
        shim.initialize()
        base = f'"target": "{TARGET}", "observer_mode": "transcript", "shell": "{SHELL}"'

        shim.send_line(tool_call(2, "ssh_start_session", "{" + base + ', "wait_seconds": -1}'))
        negative = shim.response(2, timeout=60)
        result = negative["result"]
        assert result["isError"] is True, negative
        assert result["structuredContent"]["error_type"] == "validation_error", negative
        assert "wait_seconds" in result["structuredContent"]["message"], negative

        # NaN is not JSON, and "nan" is not a number: both are refused before reaching the daemon.
        shim.send_line(tool_call(3, "ssh_start_session", "{" + base + ', "wait_seconds": NaN}'))
        nan = shim.next_matching(lambda m: "error" in m, "an answer to the NaN line", timeout=60)
        assert nan["error"]["code"] == -32700, nan
        shim.send_line(tool_call(4, "ssh_start_session", "{" + base + ', "wait_seconds": "nan"}'))
        word = shim.response(4, timeout=60)
        assert "error" in word or word["result"]["isError"] is True, word

        for id_, args in ((5, '{"session_id": "x", "wait_seconds": -0.5}'),
                          (6, '{"session_id": "x", "input": "", "wait_seconds": -3}')):
            name = "ssh_read_session" if id_ == 5 else "ssh_write_session"
            shim.send_line(tool_call(id_, name, args))
            r = shim.response(id_, timeout=60)["result"]
            assert r["isError"] is True, r
            assert r["structuredContent"]["error_type"] in ("validation_error", "session_not_found"), r

        shim.send_line(tool_call(7, "ssh_list_sessions", "{}"))
        listed = shim.response(7, timeout=60)["result"]["structuredContent"]
        assert listed["count"] == 0, f"a refused start started a session: {listed}"
    finally:
        shim.close()


async def test_the_default_observer_is_tmux_and_ends_with_the_session(harness):
    # A tmux server of this test's own (the daemon inherits the shim's environment), so that tmux
    # sessions of tests running beside it neither collide with its name nor keep its server alive.
    tmux_dir = harness.marker_dir("tmux")
    with anyio.fail_after(TEST_DEADLINE):
        async with harness.client(TMUX_TMPDIR=str(tmux_dir)) as client:
            s = await call(client, "ssh_start_session",
                           {"target": TARGET, "session_name": "watched", "shell": SHELL, "wait_seconds": 0})
            observer = s["observer"]
            assert observer["requested_mode"] == "tmux", observer
            assert observer["transcript_path"] and observer["command"], observer
            assert observer["tmux_session_name"] and s["tmux_session_name"] == observer["tmux_session_name"], s
            # tmux is installed for the tests (scripts/test.sh): an observer that fell back to the
            # transcript means the feature is broken, not that the test may pass another way.
            assert observer["mode"] == "tmux", f"the tmux observer did not start: {observer}"
            assert observer["tmux_started"] is True and observer["tmux_attach_command"], observer
            assert "warning" not in observer, observer
            assert list(tmux_dir.glob("tmux-*/default")), "tmux did not use this test's TMUX_TMPDIR"
            tmux = ["tmux", "has-session", "-t", "=" + observer["tmux_session_name"]]
            env = {**os.environ, "TMUX_TMPDIR": str(tmux_dir)}
            assert subprocess.run(tmux, env=env, capture_output=True).returncode == 0, "no such tmux session"
            stopped = await call(client, "ssh_stop_session", {"session_id": s["session_id"]})
            assert stopped["running"] is False, stopped
            # The observer ends right after the session: wait for it, within a deadline.
            deadline = time.monotonic() + 10
            while subprocess.run(tmux, env=env, capture_output=True).returncode == 0:
                assert time.monotonic() < deadline, "the tmux observer outlived its session"
                await anyio.sleep(0.05)
            # The harness then checks that no process of this test (a tmux server among them) is left.


async def test_run_in_session_returns_clean_output_and_exit_codes(harness):
    """ssh_run_in_session: one command to completion, its output alone (no echo, prompt or marker)."""
    with anyio.fail_after(TEST_DEADLINE):
        async with harness.client() as client:
            sid = (await start(client))["session_id"]
            r = await call(client, "ssh_run_in_session",
                           {"session_id": sid, "command": "cd /tmp && printf 'a\\nb\\n'"})
            assert (r["output"], r["exit_code"], r["ok"], r["still_running"]) == ("a\nb\n", 0, True, False), r
            r = await call(client, "ssh_run_in_session", {"session_id": sid, "command": "pwd; sh -c 'exit 3'"})
            assert (r["output"], r["exit_code"], r["ok"]) == ("/tmp\n", 3, False), r
            # Past its timeout the command goes on; continue waits for it again. "early" comes in
            # milliseconds (the timeout is 1.5 s), "late" 4x later: margins for a loaded machine.
            r = await call(client, "ssh_run_in_session",
                           {"session_id": sid, "command": "echo early; sleep 6; echo late", "timeout": 1.5})
            assert r["still_running"] and "exit_code" not in r and r["output"] == "early\n", r
            r = await call(client, "ssh_run_in_session", {"session_id": sid, "continue": True, "timeout": 20})
            assert (r["output"], r["exit_code"], r["still_running"]) == ("early\nlate\n", 0, False), r
            await call(client, "ssh_stop_session", {"session_id": sid})
