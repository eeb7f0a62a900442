"""ssh_scp and ssh_sync through a real MCP client, shim, autospawned daemon and sshd: results
that match their output schema, names that need no quoting, a progress notification with the
byte total, checksums, and hostile rsync options refused with no marker file left."""

from __future__ import annotations

import hashlib

import jsonschema
import pytest

from mcptest import ok_result, structured

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
