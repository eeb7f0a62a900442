"""What a client puts in front of the model: tools/list must fit a byte budget, and its schemas
must be portable to clients that map JSON Schema onto a single-type dialect."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mcptest import INSPECTOR, SEED_TOOLS, SHIM, base_env

pytestmark = pytest.mark.anyio

# The seed's whole tools/list answer for its 17 tools (tests/data/seed-tools-list.json, about 24,500
# bytes as compact JSON). Every tool added later must fit in it, with what ssh_exec already takes.
BUDGET = 24_500
# A ceiling per tool that leaves room for the seed's other 16 tools: (24,500 - 1,500) / 16 is
# about 1,440 each.
PER_TOOL = 1_500
MODEL_FACING = ("name", "title", "description", "annotations", "inputSchema")


def model_facing_bytes(tool: dict) -> int:
    """Bytes of the part of a tool the model reads (the output schema aside), as compact JSON."""
    part = {k: tool[k] for k in MODEL_FACING if k in tool}
    return len(json.dumps(part, separators=(",", ":"), ensure_ascii=False).encode())


async def list_tools_raw(harness) -> list[dict]:
    async with harness.client(SSH_MCP_NO_AUTOSTART="1") as client:
        tools = (await client.list_tools()).tools
    return [t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in tools]


async def test_tool_surface_fits_the_budget(harness):
    tools = await list_tools_raw(harness)
    sizes = {t["name"]: model_facing_bytes(t) for t in tools}
    total = sum(sizes.values())
    for name, size in sorted(sizes.items(), key=lambda kv: -kv[1]):
        print(f"{name:24} {size:6} bytes", file=sys.stderr)
    print(f"{'total':24} {total:6} bytes of {BUDGET}", file=sys.stderr)
    assert total <= BUDGET, f"tools/list takes {total} bytes of the model's context (budget {BUDGET}): {sizes}"
    over = {n: s for n, s in sizes.items() if s > PER_TOOL}
    assert not over, f"tools over the per-tool ceiling of {PER_TOOL} bytes: {over}"


def test_the_budget_is_the_seeds_whole_answer():
    seed = json.loads(SEED_TOOLS.read_text())
    assert len(seed["tools"]) == 17
    whole = len(json.dumps(seed, separators=(",", ":"), ensure_ascii=False).encode())
    assert abs(whole - BUDGET) <= 50, whole
    assert model_facing_bytes(next(t for t in seed["tools"] if t["name"] == "ssh_exec")) == 1817


def nullable_spots(schema, path: str = "$") -> list[str]:
    """Where a schema declares more than one type or a null: `type` lists, `"type": "null"`, and
    anyOf/oneOf with a null branch. Walks every subschema."""
    found: list[str] = []
    if isinstance(schema, dict):
        ty = schema.get("type")
        if isinstance(ty, list):
            found.append(f"{path}.type is a list {ty}")
        elif ty == "null":
            found.append(f"{path}.type is null")
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key) or []
            if any(isinstance(b, dict) and b.get("type") == "null" for b in branches):
                found.append(f"{path}.{key} has a null branch")
        for key, value in schema.items():
            if key in ("enum", "const", "default", "examples", "required"):
                continue
            found += nullable_spots(value, f"{path}.{key}")
    elif isinstance(schema, list):
        for i, item in enumerate(schema):
            found += nullable_spots(item, f"{path}[{i}]")
    return found


def test_the_portability_rule_finds_what_it_looks_for():
    bad = {
        "type": "object",
        "properties": {
            "a": {"type": ["string", "null"]},
            "b": {"anyOf": [{"$ref": "#/$defs/B"}, {"type": "null"}]},
            "c": {"type": "array", "items": {"oneOf": [{"type": "null"}, {"type": "integer"}]}},
            "d": {"type": "null"},
        },
    }
    flagged = {spot.split(".")[2] for spot in nullable_spots(bad)}
    assert flagged == {"a", "b", "c", "d"}, nullable_spots(bad)
    good = {"type": "object", "properties": {"s": {"anyOf": [{"type": "boolean"}, {"type": "string"}]}}}
    assert nullable_spots(good) == []


async def test_schemas_declare_one_type_and_no_null(harness):
    tools = await list_tools_raw(harness)
    assert tools
    problems = []
    for t in tools:
        for key in ("inputSchema", "outputSchema"):
            problems += [f"{t['name']}: {p}" for p in nullable_spots(t.get(key, {}), key)]
    assert not problems, "\n".join(problems)


def test_inspector_strict_finds_nothing_to_warn_about(harness):
    """The MCP Inspector CLI's --strict check of tools/list (warnings go to stderr)."""
    assert INSPECTOR.is_file(), f"{INSPECTOR} is missing: scripts/test.sh installs it (npm ci --prefix tests/mcp)"
    env_flags = []
    for k, v in {**harness.env, "SSH_MCP_NO_AUTOSTART": "1"}.items():
        env_flags += ["-e", f"{k}={v}"]
    r = subprocess.run(
        [str(INSPECTOR), "--cli", str(SHIM), *env_flags, "--method", "tools/list", "--strict"],
        capture_output=True,
        text=True,
        timeout=120,
        env=base_env(),
    )
    assert r.returncode == 0, f"inspector failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    listed = [t["name"] for t in json.loads(r.stdout)["tools"]]
    assert "ssh_exec" in listed, listed
    warnings = [line for line in r.stderr.splitlines() if line.startswith("Warning")]
    assert not warnings, r.stderr


async def test_a_null_for_an_optional_parameter_is_still_accepted(harness):
    """The schemas no longer declare null, but a client that sends one is not refused."""
    async with harness.client() as client:
        r = await client.call_tool("ssh_exec", {
            "target": "testhost", "command": "echo nulls", "cwd": None, "env": None, "timeout": None,
            "tty": None, "port": None, "strict_host_key_checking": None, "extra_ssh_args": None,
            "max_output_bytes": None,
        })
    assert not r.is_error, r
    sc = r.structured_content
    assert sc["stdout"] == "nulls\n" and sc["exit_code"] == 0, sc
    assert "signal" not in sc, "a field that does not apply is absent, not null"
