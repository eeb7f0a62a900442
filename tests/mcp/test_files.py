"""ssh_view, ssh_create and ssh_edit through a real MCP client, a real shim, an autospawned daemon
and a real sshd (SFTP on the daemon's master): results match their output schemas, refusals are
the seed's remote_file_error, and bytes that are not UTF-8 survive an edit."""

from __future__ import annotations

import base64
import os
import stat

import jsonschema
import pytest

from mcptest import ok_result, structured

pytestmark = pytest.mark.anyio


def schemas(tools) -> dict:
    return {t.name: t.output_schema for t in tools}


def refusal(result, error_type: str = "remote_file_error") -> str:
    sc = structured(result)
    assert result.is_error, f"expected a refusal: {sc}"
    assert sc["ok"] is False and sc["error_type"] == error_type, sc
    return sc["message"]


async def test_create_view_edit_round_trip(harness):
    work = harness.marker_dir("files work")
    path = str(work / "notes it's.txt")
    async with harness.client() as client:
        out = schemas((await client.list_tools()).tools)
        created = ok_result(
            await client.call_tool("ssh_create", {"target": "testhost", "path": path, "content": "one\r\ntwo\r\nthree"})
        )
        jsonschema.validate(created, out["ssh_create"])
        assert created == {"ok": True, "target": "testhost", "path": path, "bytes_written": 15}

        view = ok_result(await client.call_tool("ssh_view", {"target": "testhost", "path": path}))
        jsonschema.validate(view, out["ssh_view"])
        assert view["content"] == "one\r\ntwo\r\nthree"
        assert (view["size_bytes"], view["total_lines"], view["truncated"]) == (15, 3, False)
        assert view["is_directory"] is False and "content_base64" not in view

        ranged = ok_result(
            await client.call_tool(
                "ssh_view", {"target": "testhost", "path": path, "view_range": [2, 99], "line_numbers": True}
            )
        )
        assert ranged["content"] == "     2\ttwo\r\n     3\tthree"
        assert (ranged["start_line"], ranged["end_line"]) == (2, 3)

        cut = ok_result(await client.call_tool("ssh_view", {"target": "testhost", "path": path, "max_bytes": 4}))
        assert (cut["content"], cut["truncated"]) == ("one\r", True)
        whole = ok_result(
            await client.call_tool(
                "ssh_view", {"target": "testhost", "path": path, "max_bytes": 4, "force_read_large_files": True}
            )
        )
        assert whole["truncated"] is False and whole["content"].endswith("three")

        edited = ok_result(
            await client.call_tool(
                "ssh_edit",
                {
                    "target": "testhost",
                    "path": path,
                    "edits": [
                        {"old_str": "one", "new_str": "1"},
                        {"old_str": "t", "new_str": "T", "replace_all": True},
                    ],
                    "timeout": 30,
                },
            )
        )
        jsonschema.validate(edited, out["ssh_edit"])
        assert (edited["edits_applied"], edited["replacements"]) == (2, 3)
        assert edited["atomic"] is True and "note" not in edited, edited
        assert open(path, "rb").read() == b"1\r\nTwo\r\nThree"
        assert edited["bytes_written"] == len(b"1\r\nTwo\r\nThree")

        deep = str(work / "made" / "here.txt")
        made = ok_result(
            await client.call_tool(
                "ssh_create", {"target": "testhost", "path": deep, "content": "", "make_parents": True}
            )
        )
        jsonschema.validate(made, out["ssh_create"])
        assert (made["bytes_written"], made["directories_created"]) == (0, 1)
        os.remove(deep)
        os.rmdir(work / "made")

        listing = ok_result(await client.call_tool("ssh_view", {"target": "testhost", "path": str(work)}))
        jsonschema.validate(listing, out["ssh_view"])
        assert listing["is_directory"] is True
        assert listing["entries"] == [{"path": path, "type": "file"}]


async def test_an_edit_keeps_other_bytes_and_the_mode(harness):
    work = harness.marker_dir("bytes")
    path = work / "latin1.conf"
    path.write_bytes(b"caf\xe9\nkey = old\n\xff\n")
    os.chmod(path, 0o751)
    async with harness.client() as client:
        view = ok_result(await client.call_tool("ssh_view", {"target": "testhost", "path": str(path)}))
        assert base64.b64decode(view["content_base64"]) == b"caf\xe9\nkey = old\n\xff\n"
        assert "\ufffd" in view["content"]
        ok_result(
            await client.call_tool(
                "ssh_edit", {"target": "testhost", "path": str(path), "edits": [{"old_str": "old", "new_str": "new"}]}
            )
        )
    assert path.read_bytes() == b"caf\xe9\nkey = new\n\xff\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o751
    assert sorted(os.listdir(work)) == ["latin1.conf"]


async def test_an_edit_that_cannot_be_atomic_says_why(harness):
    work = harness.marker_dir("links")
    path = work / "linked.conf"
    path.write_bytes(b"k = 1\n")
    os.link(path, work / "other name")
    async with harness.client() as client:
        out = schemas((await client.list_tools()).tools)
        edited = ok_result(
            await client.call_tool(
                "ssh_edit", {"target": "testhost", "path": str(path), "edits": [{"old_str": "1", "new_str": "2"}]}
            )
        )
        jsonschema.validate(edited, out["ssh_edit"])
    assert edited["atomic"] is False
    assert edited["note"].startswith("Not atomic: it has 2 hard links"), edited
    assert (work / "other name").read_bytes() == b"k = 2\n"


async def test_refusals_are_remote_file_errors_with_the_seed_messages(harness):
    work = harness.marker_dir("refusals")
    (work / "twice").write_text("a = 1\na = 1\n")
    (work / "blob").write_bytes(b"\x00\x01old")
    async with harness.client() as client:
        call = client.call_tool
        missing = str(work / "missing")
        assert refusal(await call("ssh_view", {"target": "testhost", "path": missing})) == (
            f"Remote path does not exist: {missing}"
        )
        assert refusal(await call("ssh_create", {"target": "testhost", "path": str(work / "twice"), "content": "x"})) == (
            f"Remote path already exists: {work / 'twice'}"
        )
        orphan = str(work / "no" / "f")
        assert refusal(await call("ssh_create", {"target": "testhost", "path": orphan, "content": "x"})) == (
            f"Parent directory does not exist remotely for: {orphan}"
        )
        two = await call(
            "ssh_edit", {"target": "testhost", "path": str(work / "twice"), "edits": [{"old_str": "a = 1", "new_str": "b"}]}
        )
        assert "matches 2 locations" in refusal(two)
        none = await call(
            "ssh_edit", {"target": "testhost", "path": str(work / "twice"), "edits": [{"old_str": "zz", "new_str": "b"}]}
        )
        assert refusal(none).startswith("'edits[0].old_str' was not found in the file")
        blob = await call(
            "ssh_edit", {"target": "testhost", "path": str(work / "blob"), "edits": [{"old_str": "old", "new_str": "b"}]}
        )
        assert "binary" in refusal(blob)
        directory = await call(
            "ssh_edit", {"target": "testhost", "path": str(work), "edits": [{"old_str": "a", "new_str": "b"}]}
        )
        assert refusal(directory) == f"Remote path is a directory, not a file: {work}"
        bad_range = await call("ssh_view", {"target": "testhost", "path": missing, "view_range": [0, 1]})
        assert refusal(bad_range, "validation_error") == "'view_range[0]' (start line) must be >= 1."
        no_edits = await call("ssh_edit", {"target": "testhost", "path": missing, "edits": []})
        assert no_edits.is_error
    assert (work / "twice").read_text() == "a = 1\na = 1\n"
    assert (work / "blob").read_bytes() == b"\x00\x01old"
    assert sorted(os.listdir(work)) == ["blob", "twice"]
