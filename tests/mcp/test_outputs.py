"""Results that fit (at most 50,000 characters by default) and the rest paged by output_id,
through a real MCP client, shim, daemon and sshd."""

from __future__ import annotations

import base64
import json
import os
import re

import anyio
import pytest

from mcptest import ok_result, structured

pytestmark = pytest.mark.anyio

SEQ = "".join(f"{i}\n" for i in range(1, 150001)).encode()  # what `seq 1 150000` prints: 1 MB


def text_chars(result) -> int:
    """Characters of the result's text as a client counts them (UTF-16 units)."""
    texts = [c.text for c in result.content if getattr(c, "type", None) == "text"]
    assert len(texts) == 1, texts
    return len(texts[0].encode("utf-16-le")) // 2


async def read_all(client, output_id: str, stream: str = "stdout", **extra) -> tuple[bytes, list[dict]]:
    """Pages a kept output to its end from this client's cursor."""
    data, pages = b"", []
    while True:
        r = await client.call_tool("ssh_read_output", {"output_id": output_id, "stream": stream, **extra})
        assert text_chars(r) <= 50_000 or "max_bytes" in extra, text_chars(r)
        p = ok_result(r)
        assert p["offset"] == len(data), (p["offset"], len(data))
        chunk = base64.b64decode(p["data"]) if p["encoding"] == "base64" else p["data"].encode()
        data += chunk
        assert p["next_offset"] == len(data)
        pages.append(p)
        if p["eof"]:
            return data, pages
        assert chunk, f"an empty page before the end: {p}"


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_megabyte_of_output_fits_the_result_and_pages_back_exactly(harness, mode):
    async with harness.client(mode) as client:
        r = await client.call_tool("ssh_exec", {"target": "testhost", "command": "seq 1 150000"})
        res = ok_result(r)
        assert res["ok"] and res["stdout_bytes"] == len(SEQ) == 938_895
        chars = text_chars(r)
        assert 40_000 < chars <= 50_000, chars
        assert res["stdout_truncated"] is True and res["stderr_truncated"] is False
        out = res["stdout"]
        assert out.startswith("1\n2\n3\n"), out[:20]
        assert out.endswith("149999\n150000\n"), out[-20:]
        m = re.search(r"\n\[ssh-mcp: (\d+) bytes of stdout left out here; ssh_read_output "
                      r"output_id=\"(out-[0-9a-f]{16})\" stream=\"stdout\" offset=(\d+) reads them\]\n", out)
        assert m, out[30_000:30_400]
        left_out, output_id, offset = int(m.group(1)), m.group(2), int(m.group(3))
        assert output_id == res["output_id"]
        head, tail = out[: m.start()], out[m.end():]
        # About three quarters head, one quarter tail; the marker's numbers are exact.
        assert len(head) > 2 * len(tail) > 0, (len(head), len(tail))
        assert offset == len(head.encode()) and SEQ.startswith(head.encode())
        assert SEQ.endswith(tail.encode())
        assert left_out == len(SEQ) - len(head.encode()) - len(tail.encode())

        data, pages = await read_all(client, output_id)
        assert data == SEQ
        assert len(pages) > 10 and all(p["encoding"] == "utf-8" for p in pages)
        assert pages[-1]["total_bytes"] == len(SEQ) and pages[-1]["written_bytes"] == len(SEQ)

    # Another client (its own cursor) reads the bytes the marker named, from its offset.
    async with harness.client() as other:
        p = ok_result(await other.call_tool(
            "ssh_read_output", {"output_id": output_id, "offset": offset, "max_bytes": left_out}))
        assert p["data"].encode() == SEQ[offset: offset + left_out]
        # Without an offset, this client's next read goes on from where its last one ended.
        nxt = ok_result(await other.call_tool("ssh_read_output", {"output_id": output_id, "max_bytes": 6}))
        end = offset + left_out
        assert (nxt["data"].encode(), nxt["offset"]) == (SEQ[end: end + 6], end)
        first = ok_result(await other.call_tool(
            "ssh_read_output", {"output_id": output_id, "offset": 0, "max_bytes": 6}))
        assert (first["data"], first["offset"], first["next_offset"]) == ("1\n2\n3\n", 0, 6)


async def test_binary_output_comes_once_as_base64_and_pages_back_exactly(harness):
    blob = bytes((i * 2654435761 >> 13) & 0xFF for i in range(300_000)) + b"\xff\xfe"
    src = harness.marker_dir("blob") / "blob.bin"
    src.write_bytes(blob)
    async with harness.client() as client:
        r = await client.call_tool("ssh_exec", {"target": "testhost", "command": f"cat {src}; printf 'e\\377' >&2"})
        res = ok_result(r)
        assert text_chars(r) <= 50_000
        # Not UTF-8: base64 of the first bytes, a note in stdout, never lossy text beside it.
        assert "\ufffd" not in res["stdout"] and "is not UTF-8" in res["stdout"], res["stdout"][:300]
        first = base64.b64decode(res["stdout_base64"])
        assert len(first) > 20_000 and blob.startswith(first)
        assert res["stdout_truncated"] is True
        assert base64.b64decode(res["stderr_base64"]) == b"e\xff" and res["stderr"] == ""
        data, pages = await read_all(client, res["output_id"])
        assert data == blob
        assert all(p["encoding"] == "base64" for p in pages)
        err, _ = await read_all(client, res["output_id"], "stderr")
        assert err == b"e\xff"
        # The raw JSON line stays small: the output is carried once.
        assert len(json.dumps(res)) < 60_000


async def test_a_smaller_or_larger_budget_is_honoured(harness):
    async with harness.client() as client:
        small = await client.call_tool(
            "ssh_exec", {"target": "testhost", "command": "seq 1 150000", "max_result_chars": 3000})
        assert text_chars(small) <= 3000
        assert ok_result(small)["stdout"].endswith("150000\n")
        big = await client.call_tool(
            "ssh_exec", {"target": "testhost", "command": "seq 1 150000", "max_result_chars": 1_000_000})
        assert 900_000 < text_chars(big) <= 1_000_000
        whole = await client.call_tool(
            "ssh_exec", {"target": "testhost", "command": "seq 1 20000", "max_result_chars": 1_000_000})
        res = ok_result(whole)
        assert res["stdout"] == "".join(f"{i}\n" for i in range(1, 20001))
        assert "output_id" not in res and res["stdout_truncated"] is False
        bad = await client.call_tool(
            "ssh_exec", {"target": "testhost", "command": "true", "max_result_chars": 10})
        assert bad.is_error and "max_result_chars" in structured(bad)["message"]


async def test_unknown_expired_and_malformed_ids_are_clear_errors(harness):
    async with harness.client() as client:
        r = await client.call_tool("ssh_read_output", {"output_id": "out-0123456789abcdef"})
        assert r.is_error
        e = structured(r)
        assert e["error_type"] == "not_found" and "no kept output" in e["message"], e
        assert "run the command again" in e["message"]
        for bad in ["../../etc/passwd", "out-xyz", ""]:
            r = await client.call_tool("ssh_read_output", {"output_id": bad})
            assert r.is_error and structured(r)["error_type"] == "validation_error", structured(r)
        r = await client.call_tool(
            "ssh_read_output", {"output_id": "out-0123456789abcdef", "stream": "stdin"})
        assert r.is_error and "stream" in structured(r)["message"]


async def test_kept_outputs_are_private_and_survive_a_daemon_restart(harness):
    async with harness.client() as client:
        res = ok_result(await client.call_tool("ssh_exec", {"target": "testhost", "command": "seq 1 150000"}))
    out_dir = harness.state_dir / "outputs" / res["output_id"]
    assert oct(os.stat(out_dir).st_mode & 0o777) == "0o700"
    assert oct(os.stat(out_dir / "stdout").st_mode & 0o777) == "0o600"
    assert harness.cli("daemon", "stop").returncode == 0
    async with harness.client() as client:
        data, _ = await read_all(client, res["output_id"], max_bytes=1 << 20)
    assert data == SEQ


async def test_session_reads_and_runs_fit_the_budget_by_default(harness):
    """Terminal output is full of escapes (six characters each in JSON): a default read stops
    where the result would pass 50,000 characters and the rest waits for the next read; a run
    keeps the end that fits."""
    async with harness.client() as client:
        s = ok_result(await client.call_tool(
            "ssh_start_session", {"target": "testhost", "observer_mode": "transcript", "shell": "/bin/sh",
                                  "wait_seconds": 0}))
        sid = s["session_id"]
        # 20,000 red x's: 200,000 bytes, about 560,000 characters of JSON.
        ok_result(await client.call_tool("ssh_write_session", {
            "session_id": sid, "wait_seconds": 0,
            "input": "i=0; while [ $i -lt 20000 ]; do printf '\\033[31mx\\033[0m'; i=$((i+1)); done; echo; echo DONE-$((6*7))\n"}))
        got = ""
        with anyio.fail_after(60):
            while "DONE-42" not in got:
                r = await client.call_tool("ssh_read_session", {"session_id": sid, "wait_seconds": 1})
                res = ok_result(r)
                assert text_chars(r) <= 50_000, (text_chars(r), len(res["output"]), {k: v for k, v in res.items() if k != "output"})
                got += res["output"]
        # Nothing was lost between the reads: every x came through, each in its escapes.
        assert got.count("\x1b[31mx\x1b[0m") == 20_000
        run = await client.call_tool("ssh_run_in_session", {"session_id": sid, "command": "seq 1 100000"})
        assert text_chars(run) <= 50_000, text_chars(run)
        res = ok_result(run)
        assert res["truncated"] is True and res["output"].endswith("99999\n100000\n"), res["output"][-30:]
        ok_result(await client.call_tool("ssh_stop_session", {"session_id": sid}))
