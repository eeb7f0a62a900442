"""JSON-RPC on the shim's stdio, byte for byte: lines that are not JSON or not a request get the
answers JSON-RPC 2.0 requires, and the shim keeps serving the same client afterwards."""

from __future__ import annotations

from mcptest import RawShim, base_env, wait_until


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


def vm_hwm_kib(pid: int) -> int:
    """The peak resident memory of a process (VmHWM), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmHWM for {pid}")


def test_oversized_input_gets_a_clear_error_with_its_id_and_memory_stays_bounded(harness):
    """A 100 MB JSON-RPC line and a 10 MB command: each is answered with an error naming its
    size (the request's id kept, so the client does not wait for ever), neither process grows by
    anything near those sizes, and the next call works."""
    shim = RawShim({**base_env(), **harness.env}, harness.dir / "raw-shim-oversized.err")
    try:
        shim.initialize()
        shim.send(exec_call(2, "echo warm"))
        assert shim.response(2)["result"]["structuredContent"]["stdout"] == "warm\n"
        daemon = harness.daemon_pid()
        shim_before, daemon_before = vm_hwm_kib(shim.proc.pid), vm_hwm_kib(daemon)

        # 100 MB of content in an ssh_create, with the id after it, sent in pieces as a client
        # writing a large message would.
        head = (b'{"jsonrpc":"2.0","method":"tools/call","params":{"name":"ssh_create",'
                b'"arguments":{"target":"testhost","path":"/tmp/never-written","content":"')
        tail = b'"}},"id":"big-1"}\n'
        piece = b"x" * (1 << 20)
        shim.proc.stdin.write(head)
        for _ in range(100):
            shim.proc.stdin.write(piece)
        shim.proc.stdin.write(tail)
        shim.proc.stdin.flush()
        big = shim.response("big-1", timeout=60)
        assert big["error"]["code"] == -32600, big
        size = len(head) + 100 * len(piece) + len(tail) - 1
        assert f"{size} bytes" in big["error"]["message"], big

        # 10 MB of command: within the line limit, far over what one remote command may be.
        shim.send(exec_call(3, "echo " + "y" * (10 << 20)))
        r = shim.response(3, timeout=60)
        assert r["result"]["isError"] is True, str(r)[:2000]
        text = r["result"]["content"][0]["text"]
        assert "'command'" in text and "at most 131071" in text, text[:2000]

        shim.send(exec_call(4, "echo after-oversized"))
        assert shim.response(4)["result"]["structuredContent"]["stdout"] == "after-oversized\n"

        # Bounded: the 100 MB line never sat in memory; the 10 MB command is held a few times
        # over at most (JSON, arguments, request), never per byte of output or more.
        shim_growth = vm_hwm_kib(shim.proc.pid) - shim_before
        daemon_growth = vm_hwm_kib(daemon) - daemon_before
        assert shim_growth < 80 * 1024, f"shim peak grew by {shim_growth} KiB"
        assert daemon_growth < 48 * 1024, f"daemon peak grew by {daemon_growth} KiB"
        print(f"peak growth: shim {shim_growth} KiB, daemon {daemon_growth} KiB")
    finally:
        shim.close()


def vm_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def test_the_shim_gives_back_the_memory_of_large_pages_once_idle(harness):
    """Pages of 8 MiB pass through the shim several times over (gRPC, text, JSON line); it keeps
    that heap mapped while large replies come, and returns it within seconds after."""
    shim = RawShim({**base_env(), **harness.env}, harness.dir / "raw-shim-pages.err")
    try:
        shim.initialize()
        shim.send(exec_call(2, "head -c 16777216 /dev/zero | tr '\\0' a"))
        cut = shim.response(2, timeout=60)["result"]["structuredContent"]
        assert cut["stdout_truncated"] is True and cut["output_id"], cut
        idle = vm_kib(shim.proc.pid, "VmRSS")
        for i, offset in enumerate([0, 8 << 20]):
            shim.send({"jsonrpc": "2.0", "id": 10 + i, "method": "tools/call", "params": {
                "name": "ssh_read_output",
                "arguments": {"output_id": cut["output_id"], "offset": offset, "max_bytes": 8 << 20}}})
            page = shim.response(10 + i, timeout=60)["result"]["structuredContent"]
            assert page["data"] == "a" * (8 << 20) and page["offset"] == offset, {**page, "data": "…"}
        busy = vm_kib(shim.proc.pid, "VmRSS")
        assert busy > idle + 16 * 1024, (idle, busy)  # the pages' buffers were held
        wait_until(lambda: vm_kib(shim.proc.pid, "VmRSS") < idle + 12 * 1024, 15,
                   f"the shim's RSS ({busy} KiB after the pages) back near {idle} KiB")
    finally:
        shim.close()
