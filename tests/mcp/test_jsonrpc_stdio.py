"""JSON-RPC on the shim's stdio, byte for byte: lines that are not JSON or not a request get the
answers JSON-RPC 2.0 requires, and the shim keeps serving the same client afterwards."""

from __future__ import annotations

from mcptest import RawShim, base_env


def is_error(code: int):
    return lambda m: isinstance(m, dict) and m.get("error", {}).get("code") == code


def exec_call(id_: int, command: str) -> dict:
    return {"jsonrpc": "2.0", "id": id_, "method": "tools/call",
            "params": {"name": "ssh_exec", "arguments": {"target": "testhost", "command": command}}}


def test_malformed_lines_are_answered_and_the_next_call_works(harness):
    shim = RawShim({**base_env(), **harness.env}, harness.dir / "raw-shim.err")
    try:
        shim.initialize()

        shim.send_line(b"this is not json {")
        parse = shim.next_matching(is_error(-32700), "a Parse error answer")
        assert "id" in parse and parse["id"] is None, parse
        assert parse["jsonrpc"] == "2.0", parse

        shim.send(exec_call(2, "echo after-parse-error"))
        r = shim.response(2)
        assert r["result"]["structuredContent"]["stdout"] == "after-parse-error\n", r

        # Valid JSON, but no request: method is not a string. The id can be read, so it is echoed.
        shim.send({"jsonrpc": "2.0", "id": "req-7", "method": 7})
        invalid = shim.response("req-7")
        assert invalid["error"]["code"] == -32600, invalid

        # Nothing to read an id from.
        shim.send({"hello": "world"})
        invalid = shim.next_matching(is_error(-32600), "an Invalid Request answer")
        assert invalid["id"] is None, invalid

        # An empty batch is one Invalid Request; a batch gets an array with one answer per request.
        shim.send([])
        empty = shim.next_matching(is_error(-32600), "the empty batch's answer")
        assert empty["id"] is None, empty
        shim.send([{"jsonrpc": "2.0", "id": 40, "method": "tools/list"},
                   {"jsonrpc": "2.0", "method": "notifications/initialized"}])
        batch = shim.next_matching(lambda m: isinstance(m, list), "the batch's answer")
        assert [(a["id"], a["error"]["code"]) for a in batch] == [(40, -32600)], batch

        shim.send({"jsonrpc": "2.0", "id": 3, "method": "tools/list"})
        listed = shim.response(3)
        assert "ssh_exec" in [t["name"] for t in listed["result"]["tools"]], listed
        shim.send(exec_call(4, "echo still-serving"))
        r = shim.response(4)
        assert r["result"]["structuredContent"]["stdout"] == "still-serving\n", r
        assert shim.proc.poll() is None, "the shim exited"
    finally:
        shim.close()
