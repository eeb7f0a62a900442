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


def _filler(name: str, prop: dict):
    """A plausible value for a required parameter, aimed at a host that cannot be reached."""
    if name == "target":
        return "nohost.invalid"
    if "enum" in prop:
        return prop["enum"][0]
    types = prop.get("type", "string")
    types = types if isinstance(types, list) else [types]
    for ty, value in (("string", "x"), ("integer", 1), ("number", 1), ("boolean", False), ("array", []), ("object", {})):
        if ty in types:
            return value
    return "x"


NOT_IMPLEMENTED = re.compile(r"not (yet )?implemented|unimplemented|todo|coming soon", re.I)


async def test_only_working_tools_are_listed(harness):
    """A listed tool must reach real code: no placeholder that answers 'not implemented'."""
    async with harness.client() as client:
        tools = (await client.list_tools()).tools
        for t in tools:
            props = t.input_schema.get("properties", {})
            args = {k: _filler(k, props.get(k, {})) for k in t.input_schema.get("required", [])}
            result = await client.call_tool(t.name, args)
            text = " ".join(getattr(c, "text", "") for c in result.content)
            sc = result.structured_content or {}
            message = f"{text} {sc.get('message', '')}"
            assert not NOT_IMPLEMENTED.search(message), f"{t.name} is listed but not working: {message}"
            if result.is_error:
                assert sc.get("ok") is False and sc.get("error_type"), (
                    f"{t.name}: error without the {{ok, error_type, message}} shape: {result}"
                )
