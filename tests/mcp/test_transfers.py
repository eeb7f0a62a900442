"""ssh_scp and ssh_sync through a real MCP client, shim, autospawned daemon and sshd: results
that match their output schema, names that need no quoting, a progress notification with the
byte total, checksums, and hostile rsync options refused with no marker file left."""

from __future__ import annotations

import hashlib

import anyio
import jsonschema
import pytest

from mcptest import alive, await_until, children_of, ok_result, procs_mentioning, structured

pytestmark = pytest.mark.anyio


async def schemas(client) -> dict:
    return {t.name: t.output_schema for t in (await client.list_tools()).tools}


async def test_scp_up_and_down_with_a_tricky_name_and_checksums(harness):
    work = harness.marker_dir("scp work")
    name = "it's a \"name\" -x.bin"
    body = bytes(range(256)) * 64
    (work / name).write_bytes(body)
    remote_dir = harness.marker_dir("remote side")
    async with harness.client() as client:
        out = await schemas(client)
        up = ok_result(
            await client.call_tool(
                "ssh_scp",
                {
                    "target": "testhost",
                    "direction": "upload",
                    "sources": [str(work / name)],
                    "destination": f"{remote_dir}/{name}",
                    "checksum": True,
                },
            )
        )
        jsonschema.validate(up, out["ssh_scp"])
        assert up["ok"] is True and up["exit_code"] == 0, up
        assert (up["files_transferred"], up["bytes_transferred"]) == (1, len(body))
        assert up["checksum_match"] is True
        assert up["checksums"][0]["remote_sha256"] == hashlib.sha256(body).hexdigest()
        assert (remote_dir / name).read_bytes() == body

        down = ok_result(
            await client.call_tool(
                "ssh_scp",
                {
                    "target": "testhost",
                    "direction": "download",
                    "sources": [f"{remote_dir}/{name}"],
                    "destination": str(work / "back"),
                },
            )
        )
        jsonschema.validate(down, out["ssh_scp"])
        assert down["ok"] is True and down["reused_connection"] is True, down
        assert (work / "back").read_bytes() == body

        missing = structured(
            await client.call_tool(
                "ssh_scp",
                {"target": "testhost", "direction": "upload", "sources": [str(work / "nope")], "destination": "x"},
            )
        )
        assert missing["ok"] is False and missing["error_type"] == "validation_error"
        assert missing["message"] == f"Local source path does not exist: {work / 'nope'}"


async def test_sync_reports_progress_with_the_total(harness):
    work = harness.marker_dir("sync work")
    size = 3 << 20
    (work / "big").write_bytes(b"\x01" * size)
    dest = harness.marker_dir("sync dest")
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress, total, message):
        seen.append((progress, total, message))

    async with harness.client() as client:
        out = await schemas(client)
        r = ok_result(
            await client.call_tool(
                "ssh_sync",
                {
                    "target": "testhost",
                    "direction": "upload",
                    "source": str(work / "big"),
                    "destination": f"{dest}/",
                    "compress": False,
                    "extra_rsync_args": ["--bwlimit=1m"],
                },
                progress_callback=on_progress,
            )
        )
    jsonschema.validate(r, out["ssh_sync"])
    assert r["ok"] is True, r
    assert (r["files_transferred"], r["bytes_transferred"]) == (1, size)
    assert (dest / "big").stat().st_size == size
    print(f"progress notifications: {seen}")
    moving = [s for s in seen if s[0] > 0]
    assert moving, f"no progress notification with bytes: {seen}"
    assert all(total == size for _, total, _ in moving), seen
    assert "MiB" in (moving[0][2] or ""), seen


async def test_cancelling_a_transfer_ends_rsync_and_its_ssh(harness):
    work = harness.marker_dir("cancel transfer")
    (work / "big").write_bytes(b"\x02" * (4 << 20))
    dest = harness.marker_dir("cancel dest")
    outcome: dict[str, object] = {}
    async with harness.client() as client:
        async with anyio.create_task_group() as tg:
            scopes: list[anyio.CancelScope] = []

            async def call():
                with anyio.move_on_after(120) as scope:
                    scopes.append(scope)
                    outcome["result"] = await client.call_tool(
                        "ssh_sync",
                        {
                            "target": "testhost",
                            "direction": "upload",
                            "source": str(work / "big"),
                            "destination": f"{dest}/",
                            "compress": False,
                            "extra_rsync_args": ["--bwlimit=100"],
                        },
                    )
                outcome["cancelled"] = scope.cancelled_caught

            tg.start_soon(call)
            # The local rsync carries the source path in its command line; its ssh is its child.
            def rsync_and_ssh():
                for pid in procs_mentioning(str(work), environ=False):
                    kids = children_of(pid)
                    if kids:
                        return [pid, *kids]
                return None

            pids = await await_until(rsync_and_ssh, 20, "rsync and its ssh to run")
            scopes[0].cancel()  # abandoning the call sends notifications/cancelled
        assert outcome.get("cancelled") is True and "result" not in outcome, outcome
        await await_until(
            lambda: not any(alive(p) for p in pids),
            10,
            f"rsync and its ssh (pids {pids}) to end after cancellation",
        )
        # The client and its daemon still work.
        r = ok_result(await client.call_tool("ssh_exec", {"target": "testhost", "command": "echo again"}))
        assert r["stdout"] == "again\n"


@pytest.mark.parametrize(
    "args",
    [
        ["-avze", "touch {m}"],
        ["--rsh=touch {m}"],
        ["--rs=touch {m}"],
        ["--log-file={m}"],
        ["-e", "touch {m}"],
    ],
)
async def test_hostile_rsync_options_are_refused(harness, args):
    work = harness.marker_dir("hostile")
    marker = work / "MARK"
    (work / "f").write_text("x")
    async with harness.client() as client:
        r = structured(
            await client.call_tool(
                "ssh_sync",
                {
                    "target": "testhost",
                    "direction": "upload",
                    "source": str(work / "f"),
                    "destination": str(work / "dst"),
                    "extra_rsync_args": [a.format(m=marker) for a in args],
                },
            )
        )
    assert r["ok"] is False and r["error_type"] == "validation_error", r
    assert "not allowed" in r["message"], r
    assert not marker.exists()
    assert not (work / "dst").exists()
