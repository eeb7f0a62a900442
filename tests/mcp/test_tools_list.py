"""tools/list: the shape every tool must have, and compatibility with the seed's schemas."""

from __future__ import annotations

import json
import re

import pytest

from mcptest import SEED_TOOLS

pytestmark = pytest.mark.anyio

ANNOTATIONS = ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint")
EXPECTED_PROTOCOL = {"legacy": "2025-11-25", "auto": "2026-07-28"}


def seed_tools() -> dict[str, dict]:
    return {t["name"]: t for t in json.loads(SEED_TOOLS.read_text())["tools"]}


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_every_tool_is_fully_described(harness, mode):
    async with harness.client(mode) as client:
        assert client.protocol_version == EXPECTED_PROTOCOL[mode]
        tools = (await client.list_tools()).tools
    assert tools, "no tools listed"
    names = [t.name for t in tools]
    assert len(names) == len(set(names)), f"duplicate tool names: {names}"
    assert "ssh_exec" in names
    seed = seed_tools()
    for t in tools:
        raw = t.model_dump(by_alias=True, exclude_none=True)
        assert t.title and t.title.strip(), f"{t.name}: no title"
        assert t.description and t.description.strip(), f"{t.name}: no description"
        ann = raw.get("annotations") or {}
        for key in ANNOTATIONS:
            assert isinstance(ann.get(key), bool), f"{t.name}: annotation {key} not set explicitly: {ann}"
        assert raw.get("outputSchema", {}).get("type") == "object", f"{t.name}: no object outputSchema"
        assert raw["outputSchema"].get("properties"), f"{t.name}: outputSchema without properties"
        schema = raw["inputSchema"]
        assert schema.get("type") == "object", f"{t.name}: inputSchema is not an object schema"
        assert schema.get("additionalProperties") is False, f"{t.name}: inputSchema accepts unknown fields"
        # Names are the seed's (new tools may come, but the seed's names are not to be renamed).
        if t.name in seed:
            ours = set(schema.get("properties", {}))
            theirs = set(seed[t.name]["inputSchema"].get("properties", {}))
            assert theirs <= ours, f"{t.name}: parameters of the seed missing: {sorted(theirs - ours)}"
            new_required = set(schema.get("required", [])) - set(seed[t.name]["inputSchema"].get("required", []))
            assert not new_required, f"{t.name}: parameters required here but optional in the seed: {new_required}"


async def test_ssh_exec_input_matches_seed(harness):
    async with harness.client() as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    ours = tools["ssh_exec"].input_schema
    theirs = seed_tools()["ssh_exec"]["inputSchema"]
    assert set(theirs["properties"]) <= set(ours["properties"]), sorted(
        set(theirs["properties"]) - set(ours["properties"])
    )
    assert set(ours["required"]) == set(theirs["required"]) == {"target", "command"}
    # The extensions this project documents for ssh_exec.
    assert "max_output_bytes" in ours["properties"]


NOT_IMPLEMENTED = re.compile(r"not (yet )?implemented|unimplemented|todo|coming soon", re.I)

REMOTE = {"target": "nohost.invalid"}
# Arguments that take each tool past its validation to real work, and what that work answers
# here: a connection attempt to a host that does not resolve, a lookup of an id that does not
# exist, or a listing. A tool missing from this table fails the test: add it when you add a tool.
REACHES_REAL_CODE = {
    "ssh_exec": ({**REMOTE, "command": "true"}, "connection_error"),
    "ssh_view": ({**REMOTE, "path": "x"}, "connection_error"),
    "ssh_create": ({**REMOTE, "path": "x", "content": "x"}, "connection_error"),
    "ssh_edit": ({**REMOTE, "path": "x", "edits": [{"old_str": "a", "new_str": "b"}]}, "connection_error"),
    "ssh_grep": ({**REMOTE, "pattern": "x"}, "connection_error"),
    "ssh_glob": ({**REMOTE, "pattern": "x"}, "connection_error"),
    "ssh_scp": ({**REMOTE, "direction": "upload", "sources": ["/etc/hostname"], "destination": "/tmp/x"},
                "connection_error"),
    "ssh_sync": ({**REMOTE, "direction": "upload", "source": "/etc/hostname", "destination": "/tmp/x"},
                 "connection_error"),
    "ssh_forward": ({**REMOTE, "direction": "local", "local_port": 1, "remote_host": "127.0.0.1",
                     "remote_port": 1}, "connection_error"),
    "ssh_start_session": (REMOTE, "connection_error"),
    "ssh_ensure_session": (REMOTE, "connection_error"),
    "ssh_read_session": ({"session_id": "x"}, "session_not_found"),
    "ssh_write_session": ({"session_id": "x", "input": "x"}, "session_not_found"),
    "ssh_run_in_session": ({"session_id": "x", "command": "true"}, "session_not_found"),
    "ssh_stop_session": ({"session_id": "x"}, "session_not_found"),
    "ssh_stop_forward": ({"forward_id": "x"}, "forward_not_found"),
    "ssh_read_output": ({"output_id": "out-0123456789abcdef"}, "not_found"),
    "ssh_stop_job": ({"job_id": "job-0123456789abcdef"}, "not_found"),
    "ssh_list_jobs": ({}, None),
    "ssh_hosts": ({"filter": "no-such-host-*"}, None),
    # One row per target, each with its own outcome: the call itself succeeds.
    "ssh_exec_many": ({"targets": ["nohost.invalid"], "command": "true"}, "row:connection_error"),
    "ssh_list_sessions": ({}, None),
    "ssh_list_forwards": ({}, None),
}


async def test_only_working_tools_are_listed(harness):
    """A listed tool must reach real code: past its validation, each one tries to connect, looks
    its id up, or lists, and says so; no placeholder answers, and none fails on its own checks."""
    async with harness.client() as client:
        tools = (await client.list_tools()).tools
        assert sorted(t.name for t in tools) == sorted(REACHES_REAL_CODE), [t.name for t in tools]
        for t in tools:
            args, expected = REACHES_REAL_CODE[t.name]
            result = await client.call_tool(t.name, args)
            text = " ".join(getattr(c, "text", "") for c in result.content)
            sc = result.structured_content or {}
            message = f"{text} {sc.get('message', '')}"
            assert not NOT_IMPLEMENTED.search(message), f"{t.name} is listed but not working: {message}"
            if expected is None:
                assert not result.is_error and sc.get("count") == 0, f"{t.name}: {sc}"
                continue
            if expected.startswith("row:"):
                (row,) = sc["results"]
                assert not result.is_error and row["error_type"] == expected[4:], f"{t.name}: {sc}"
                assert "nohost.invalid" in row["error"], f"{t.name}: {sc}"
                continue
            assert result.is_error and sc.get("error_type") == expected, f"{t.name}: {sc}"
            if expected == "connection_error":
                assert "nohost.invalid" in sc["message"], f"{t.name}: {sc}"
            else:
                # The unknown id, quoted.
                unknown = args.get("output_id", args.get("job_id", "x"))
                assert f"'{unknown}'" in sc["message"], f"{t.name}: {sc}"
