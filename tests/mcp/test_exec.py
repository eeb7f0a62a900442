"""ssh_exec through a real MCP client, a real shim, an autospawned daemon and a real sshd."""

from __future__ import annotations

import base64
import json
import os

import jsonschema
import pytest

from mcptest import ok_result, structured

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_stdout_stderr_exit_code_and_reuse(harness, mode):
    async with harness.client(mode) as client:
        schema = {t.name: t for t in (await client.list_tools()).tools}["ssh_exec"].output_schema
        r = await client.call_tool(
            "ssh_exec", {"target": "testhost", "command": "echo out; echo err >&2; exit 3"}
        )
        first = ok_result(r)  # a failing remote command is a result, not a tool error
        jsonschema.validate(first, schema)
        assert first["stdout"] == "out\n"
        assert first["stderr"] == "err\n"
        assert first["exit_code"] == 3
        assert first["ok"] is False
        assert first["timed_out"] is False
        assert "signal" not in first
        assert first["target"] == "testhost"
        assert first["command"] == "echo out; echo err >&2; exit 3"
        assert (first["stdout_bytes"], first["stderr_bytes"]) == (4, 4)
        assert first["stdout_truncated"] is False and first["stderr_truncated"] is False
        assert "stdout_base64" not in first and "stderr_base64" not in first
        assert first["reused_connection"] is False
        # The structured result is also given as JSON text.
        texts = [c.text for c in r.content if getattr(c, "type", None) == "text"]
        assert any(_json_equal(t, first) for t in texts), texts

        second = ok_result(await client.call_tool("ssh_exec", {"target": "testhost", "command": "true"}))
        jsonschema.validate(second, schema)
        assert second["exit_code"] == 0 and second["ok"] is True
        assert second["reused_connection"] is True


def _json_equal(text: str, value: dict) -> bool:
    try:
        return json.loads(text) == value
    except ValueError:
        return False


async def test_cwd_env_and_shell(harness):
    work = harness.marker_dir("cwd with space")
    async with harness.client() as client:
        r = ok_result(
            await client.call_tool(
                "ssh_exec",
                {
                    "target": "testhost",
                    "command": 'pwd; printf "%s|%s\\n" "$GREETING" "$OTHER"',
                    "cwd": str(work),
                    "env": {"GREETING": "hello world", "OTHER": "it's $HOME; `x`"},
                },
            )
        )
        assert r["stdout"] == f"{work}\nhello world|it's $HOME; `x`\n", r

        shells = {}
        for shell in ("/bin/sh", "/bin/bash"):
            r = ok_result(
                await client.call_tool(
                    "ssh_exec",
                    {
                        "target": "testhost",
                        "command": "readlink /proc/$$/exe; true",
                        "shell": shell,
                        "env": {"X": "1"},
                    },
                )
            )
            assert r["ok"], r
            shells[shell] = r["stdout"].strip()
        assert shells["/bin/sh"] == os.path.realpath("/bin/sh"), shells
        assert shells["/bin/bash"] == os.path.realpath("/bin/bash"), shells

        r = structured(
            await client.call_tool(
                "ssh_exec", {"target": "testhost", "command": "pwd", "cwd": str(work / "missing")}
            )
        )
        assert r.get("ok") is False, r


async def test_unknown_argument_is_an_error(harness):
    async with harness.client() as client:
        r = await client.call_tool(
            "ssh_exec", {"target": "testhost", "command": "true", "no_such_argument": 1}
        )
    assert r.is_error
    text = " ".join(getattr(c, "text", "") for c in r.content)
    assert "no_such_argument" in text, text


async def test_hostile_target_is_refused(harness):
    marker = harness.dir / "proxycommand-ran"
    async with harness.client() as client:
        for target in (f"-oProxyCommand=touch {marker}", f"-o ProxyCommand=touch {marker}"):
            r = await client.call_tool("ssh_exec", {"target": target, "command": "true"})
            assert r.is_error, r
            sc = structured(r)
            assert sc["ok"] is False and sc["error_type"] and sc["message"], sc
        # A hostile option smuggled in extra_ssh_args is refused too, naming the option.
        r = await client.call_tool(
            "ssh_exec",
            {
                "target": "testhost",
                "command": "true",
                "extra_ssh_args": ["-o", f"ProxyCommand=touch {marker}"],
            },
        )
        assert r.is_error, r
        assert "proxycommand" in structured(r)["message"].lower()
    assert not marker.exists(), "the hostile ProxyCommand ran"


async def test_binary_output_survives_as_base64(harness):
    async with harness.client() as client:
        r = ok_result(
            await client.call_tool(
                "ssh_exec",
                {"target": "testhost", "command": "printf 'a\\000b\\377'; printf 'e\\377\\000' >&2"},
            )
        )
    assert r["ok"], r
    assert base64.b64decode(r["stdout_base64"]) == b"a\x00b\xff"
    assert base64.b64decode(r["stderr_base64"]) == b"e\xff\x00"
    assert r["stdout_bytes"] == 4 and r["stderr_bytes"] == 3
    # Bytes that are not UTF-8 come once, as base64: no lossy text beside them.
    assert r["stdout"] == "" and r["stderr"] == "", r


async def test_max_output_bytes_truncates_and_counts(harness):
    async with harness.client() as client:
        r = ok_result(
            await client.call_tool(
                "ssh_exec",
                {
                    "target": "testhost",
                    "command": "head -c 100000 /dev/zero | tr '\\0' a; printf END; echo small >&2",
                    "max_output_bytes": 1000,
                },
            )
        )
    assert r["ok"], r
    assert r["stdout_truncated"] is True
    assert r["stdout_bytes"] == 100003
    assert len(r["stdout"].encode()) <= 2000, len(r["stdout"])
    assert r["stdout"].startswith("a")
    assert r["stdout"].endswith("END"), r["stdout"][-50:]  # the middle is left out, not the end
    assert r["stderr_truncated"] is False and r["stderr"] == "small\n"
