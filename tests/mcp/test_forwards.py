"""Port forwards through real MCP clients: a forward belongs to the daemon, so it keeps carrying
traffic after the client that opened it exits; a later client lists it and stops it. Traffic goes
through a real echo server on loopback, over the real sshd."""

from __future__ import annotations

import socket
import threading

import anyio
import jsonschema
import pytest

from mcptest import ok_result, structured

pytestmark = pytest.mark.anyio

TARGET = "testhost"
TEST_DEADLINE = 120


def echo_server() -> int:
    """An echo server on a free loopback port (a daemon thread); returns the port."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)

    def serve():
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    def echo(conn):
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def through(port: int, text: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(text)
        got = b""
        while len(got) < len(text):
            chunk = s.recv(4096)
            assert chunk, f"the forward closed after {got!r}"
            got += chunk
        return got


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except OSError:
        return True


async def test_a_forward_outlives_its_client_and_a_later_client_stops_it(harness):
    echo = echo_server()
    port = free_port()
    with anyio.fail_after(TEST_DEADLINE):
        async with harness.client() as first:
            tools = {t.name: t for t in (await first.list_tools()).tools}
            f = ok_result(await first.call_tool("ssh_forward", {
                "target": TARGET, "direction": "local", "local_port": port,
                "remote_host": "127.0.0.1", "remote_port": echo, "forward_name": "echo"}))
            jsonschema.validate(f, tools["ssh_forward"].output_schema)
            assert f["running"] is True and f["created"] is True, f
            assert f["bind_address"] == "127.0.0.1" and f["listen"] == f"127.0.0.1:{port}", f
            assert "ended_reason" not in f and "warning" not in f, "absent, not null"
            fid = f["forward_id"]
            assert through(port, b"first client\n") == b"first client\n"

        # The first client's shim has exited; the daemon keeps the forward, and people see it.
        assert through(port, b"no client\n") == b"no client\n"
        table = harness.cli("forwards")
        assert table.returncode == 0, table.stderr
        row = next(line for line in table.stdout.splitlines() if line.startswith(fid))
        assert "echo" in row and f"127.0.0.1:{port}" in row and row.endswith("running"), row

        async with harness.client() as second:
            listed = ok_result(await second.call_tool("ssh_list_forwards", {}))
            jsonschema.validate(listed, tools["ssh_list_forwards"].output_schema)
            assert listed["count"] == 1 and listed["forwards"][0]["forward_id"] == fid, listed
            again = ok_result(await second.call_tool("ssh_forward", {
                "target": TARGET, "direction": "local", "local_port": port,
                "remote_host": "127.0.0.1", "remote_port": echo, "forward_name": "echo"}))
            assert again["forward_id"] == fid and again["created"] is False, again
            stopped = ok_result(await second.call_tool("ssh_stop_forward", {"forward_id": fid}))
            jsonschema.validate(stopped, tools["ssh_stop_forward"].output_schema)
            assert stopped["was_running"] is True and stopped["running"] is False, stopped
            assert stopped["ended_reason"] == "stopped", stopped
            assert refused(port), "the port still accepts after the stop"
            assert ok_result(await second.call_tool("ssh_list_forwards", {}))["count"] == 0
            kept = ok_result(await second.call_tool("ssh_list_forwards", {"include_stopped": True}))
            assert kept["count"] == 1 and kept["forwards"][0]["running"] is False, kept
        row = next(line for line in harness.cli("forwards").stdout.splitlines() if line.startswith(fid))
        assert row.endswith("stopped"), row


async def test_a_busy_port_and_an_unknown_id_are_clear_errors(harness):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    with anyio.fail_after(TEST_DEADLINE), busy:
        async with harness.client() as client:
            r = await client.call_tool("ssh_forward", {
                "target": TARGET, "direction": "local", "local_port": port,
                "remote_host": "127.0.0.1", "remote_port": 22})
            sc = structured(r)
            assert r.is_error and sc["error_type"] == "forward_failed", sc
            assert f"127.0.0.1:{port}" in sc["message"] and "in use" in sc["message"], sc
            listed = ok_result(await client.call_tool("ssh_list_forwards", {"include_stopped": True}))
            assert listed["count"] == 0, listed
            r = await client.call_tool("ssh_stop_forward", {"forward_id": "0123456789ab"})
            sc = structured(r)
            assert r.is_error and sc["error_type"] == "forward_not_found", sc
            assert "Unknown forward_id '0123456789ab'." in sc["message"], sc
