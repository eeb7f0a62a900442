"""ssh_grep and ssh_glob through a real MCP client, shim, autospawned daemon and sshd."""

from __future__ import annotations

import jsonschema
import pytest

from mcptest import ok_result, structured

pytestmark = pytest.mark.anyio


def _tree(harness):
    base = harness.marker_dir("search tree")
    (base / "src" / "a").mkdir(parents=True)
    (base / ".git").mkdir()
    (base / "src" / "top.ts").write_text("const needle = 1;\nother\n")
    (base / "src" / "a" / "nested.ts").write_text("x\nNEEDLE here\ny\n")
    (base / "notes.md").write_text("a needle\n")
    (base / ".git" / "config").write_text("needle\n")
    (base / "a:12:b.txt").write_text("needle\n")
    return base


async def test_grep_modes_globs_and_errors(harness):
    base = _tree(harness)
    async with harness.client() as client:
        schema = {t.name: t for t in (await client.list_tools()).tools}["ssh_grep"].output_schema
        call = lambda **a: client.call_tool("ssh_grep", {"target": "testhost", "path": str(base), **a})

        r = ok_result(await call(pattern="needle"))
        jsonschema.validate(r, schema)
        assert r["output_mode"] == "files_with_matches"
        assert sorted(r["matches"]) == sorted(
            f"{base}/{p}" for p in ["src/top.ts", "notes.md", "a:12:b.txt"]
        )
        assert r["regex_flavor"] in ("pcre", "extended") and r["errors"] == []
        assert r["truncated"] is False and r["output_capped"] is False

        r = ok_result(await call(pattern="needle", output_mode="content", case_insensitive=True, glob="src/**/*.ts", context=1))
        jsonschema.validate(r, schema)
        # grep lists files in directory order: compare as a set.
        assert {(m["path"].removeprefix(f"{base}/"), m["line_number"], m.get("is_context", False)) for m in r["matches"]} == {
            ("src/a/nested.ts", 1, True),
            ("src/a/nested.ts", 2, False),
            ("src/a/nested.ts", 3, True),
            ("src/top.ts", 1, False),
            ("src/top.ts", 2, True),
        }
        assert {m["line"] for m in r["matches"] if "is_context" not in m} == {"NEEDLE here", "const needle = 1;"}

        r = ok_result(await call(pattern="needle", output_mode="count", glob="*.{md,txt}"))
        assert sorted((m["path"].removeprefix(f"{base}/"), m["count"]) for m in r["matches"]) == [
            ("a:12:b.txt", 1),
            ("notes.md", 1),
        ]

        r = ok_result(await call(pattern="needle", head_limit=1))
        assert len(r["matches"]) == 1 and r["truncated"] is True

        missing = await client.call_tool("ssh_grep", {"target": "testhost", "pattern": "x", "path": f"{base}/nope"})
        assert missing.is_error
        assert structured(missing)["error_type"] == "remote_file_error"
        assert structured(missing)["message"] == f"Remote path does not exist: {base}/nope"

        bad = await call(pattern="needle", context=2)
        assert bad.is_error and structured(bad)["error_type"] == "validation_error"
        assert "only apply when output_mode is 'content'" in structured(bad)["message"]


async def test_glob_matches_sorted_relative_paths(harness):
    base = _tree(harness)
    async with harness.client() as client:
        schema = {t.name: t for t in (await client.list_tools()).tools}["ssh_glob"].output_schema
        call = lambda **a: client.call_tool("ssh_glob", {"target": "testhost", "path": str(base), **a})

        r = ok_result(await call(pattern="**/*.ts"))
        jsonschema.validate(r, schema)
        assert r["matches"] == ["src/a/nested.ts", "src/top.ts"]
        assert r["truncated"] is False and r["walk_limited"] is False
        assert r["path"] == str(base) and r["pattern"] == "**/*.ts"

        r = ok_result(await call(pattern="**", head_limit=2))
        assert r["matches"] == ["a:12:b.txt", "notes.md"] and r["truncated"] is True
        assert ok_result(await call(pattern=".git/**"))["matches"] == []

        not_dir = await call(pattern="*", path=f"{base}/notes.md")
        assert not_dir.is_error and structured(not_dir)["error_type"] == "remote_file_error"
        assert structured(not_dir)["message"] == f"Remote path exists but is not a directory: {base}/notes.md"
