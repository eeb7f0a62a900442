"""The daemon's life around its clients: one daemon for many clients, surviving a killed client,
coming back after a restart, and a useful error when it cannot be started."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from mcptest import (
    SHIM,
    RawShim,
    alive,
    await_until,
    base_env,
    ok_result,
    parse_status,
    procs_mentioning,
    structured,
    wait_until,
)

DRIVER = Path(__file__).with_name("ten_clients_driver.py")


def test_ten_clients_with_stripped_env_share_one_daemon(sshd):
    """Ten clients at once, default socket path: exactly one daemon serves them all.

    Runs in a private pid + mount namespace with a fresh tmpfs on /tmp and /run/user, so the
    default socket path is this test's alone and nothing escapes it."""
    assert shutil.which("unshare"), "unshare (util-linux) is needed"
    # The namespace's /tmp is a fresh tmpfs; the real /tmp stays reachable at /mnt there, so a
    # checkout under /tmp (CI clones anywhere) still finds its binaries and this driver.
    assert os.path.isdir("/mnt"), "the test needs an /mnt directory to see the real /tmp through"

    def seen_inside(path: Path) -> str:
        text = str(path)
        return "/mnt" + text[len("/tmp"):] if text == "/tmp" or text.startswith("/tmp/") else text

    cfg = {
        "shim": seen_inside(SHIM),
        "port": sshd.port,
        "user": sshd.user,
        "identity_text": sshd.identity.read_text(),
        "known_hosts_text": sshd.known_hosts.read_text(),
        "path": os.environ.get("PATH", "/usr/bin:/bin"),
        "shell": os.environ.get("SHELL", "/bin/sh"),
    }
    script = (
        "mount --bind /tmp /mnt && "
        "mount -t tmpfs -o mode=1777 tmpfs /tmp && "
        "if [ -d /run/user ]; then mount -t tmpfs -o mode=755 tmpfs /run/user; fi && "
        # No exec: sh stays pid 1 and, waiting for the driver with waitpid(-1), reaps the
        # orphans (the daemon, once its shim has exited) as an init would.
        '"$0" "$1"'
    )
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--mount-proc",
         "sh", "-c", script, seen_inside(Path(sys.executable)), seen_inside(DRIVER)],
        input=json.dumps(cfg),
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": cfg["path"]},
    )
    assert proc.returncode == 0, f"driver failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(report, indent=1), file=sys.stderr)

    # Our own pid namespace: its init is the sh above, and the driver is one of its first processes.
    assert report["init"].split()[0] == "sh", report["init"]
    assert report["pid_in_namespace"] < 10, report["pid_in_namespace"]
    assert report["daemons_before"] == []
    results = report["results"]
    assert len(results) == 10
    for i, res in results.items():
        assert not res["is_error"], f"client {i}: {res}"
        assert res["structured"]["stdout"] == f"client-{i}\n", res
    assert len(report["daemons_after_clients"]) == 1, report["daemons_after_clients"]
    assert report["status_rc"] == 0, report["status"]
    status = parse_status(report["status"])
    assert int(status["pid"]) == report["daemons_after_clients"][0]
    uid = os.getuid()
    assert status["socket"] in (
        f"/tmp/ssh-mcp-{uid}/ssh-mcpd.sock",
        f"/run/user/{uid}/ssh-mcp/ssh-mcpd.sock",
    ), status
    assert status["commands"].endswith("10 since start"), status
    assert report["stop_rc"] == 0, report["stop"]
    assert report["daemons_after_stop"] == [], report


def test_killing_the_shims_process_group_mid_call(harness):
    mark = harness.marker_dir("killpg-mark")
    shim = RawShim({**base_env(), **harness.env}, harness.dir / "raw-shim.err")
    try:
        shim.initialize()
        shim.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "ssh_exec",
            "arguments": {"target": "testhost", "command": f"sleep 30; echo {mark}",
                          "env": {"SMT_MARK": str(mark)}}}})

        def remote_sleep():
            procs = procs_mentioning(str(mark))
            return procs if any(cmd.startswith("sleep 30") for cmd in procs.values()) else None

        wait_until(remote_sleep, 20, "the remote sleep to start")
        daemon = harness.daemon_pid()
        assert os.getpgid(daemon) != shim.proc.pid, "the daemon is in the shim's process group"
        os.killpg(shim.proc.pid, signal.SIGKILL)  # what an MCP client does on exit, at its harshest
        shim.proc.wait(10)
    finally:
        shim.close()

    wait_until(
        lambda: not procs_mentioning(str(mark)),
        10,
        f"the remote sleep to end after its client died (still: {procs_mentioning(str(mark))})",
    )
    assert alive(daemon), "the daemon died with its client's process group"
    assert harness.daemon_pid() == daemon

    async def again():
        async with harness.client() as client:
            return ok_result(await client.call_tool("ssh_exec", {"target": "testhost", "command": "echo alive"}))

    r = anyio.run(again)
    assert r["stdout"] == "alive\n", r
    assert harness.daemon_pid() == daemon


@pytest.mark.anyio
async def test_client_survives_a_daemon_restart(harness):
    async with harness.client() as client:
        r = ok_result(await client.call_tool("ssh_exec", {"target": "testhost", "command": "echo one"}))
        assert r["stdout"] == "one\n"
        first = harness.daemon_pid()

        stop = harness.cli("daemon", "stop")
        assert stop.returncode == 0 and f"pid {first}" in stop.stdout, stop
        assert not alive(first)
        assert harness.status() is None

        r = ok_result(await client.call_tool("ssh_exec", {"target": "testhost", "command": "echo two"}))
        assert r["stdout"] == "two\n"
        assert r["reused_connection"] is False  # the old daemon's connections closed with it
        second = harness.daemon_pid()
        assert second != first and alive(second)


@pytest.mark.anyio
async def test_no_autostart_says_what_to_run(harness):
    async with harness.client(SSH_MCP_NO_AUTOSTART="1") as client:
        r = await client.call_tool("ssh_exec", {"target": "testhost", "command": "true"})
    assert r.is_error, r
    sc = structured(r)
    assert sc["ok"] is False, sc
    assert sc["error_type"] == "daemon_unavailable", sc
    msg = sc["message"]
    assert "ssh-mcpd" in msg and "systemctl" in msg, msg
    assert str(harness.socket) in msg, msg
    assert harness.status() is None, "a daemon was started although SSH_MCP_NO_AUTOSTART=1"
    assert not harness.socket.exists()


@pytest.mark.anyio
async def test_a_daemon_killed_mid_call_is_reported_and_replaced(harness):
    mark = harness.marker_dir("sigkill-mark")
    try:
        async with harness.client() as client:
            r = ok_result(await client.call_tool("ssh_exec", {"target": "testhost", "command": "echo warm"}))
            assert r["stdout"] == "warm\n"
            first = harness.daemon_pid()
            async with anyio.create_task_group() as tg:
                results = []

                async def call():
                    results.append(await client.call_tool("ssh_exec", {
                        "target": "testhost", "command": "sleep 30", "env": {"SMT_MARK": str(mark)}}))

                tg.start_soon(call)
                await await_until(
                    lambda: any(c.startswith("sleep 30") for c in procs_mentioning(str(mark)).values()),
                    20,
                    "the remote sleep to start",
                )
                os.kill(first, signal.SIGKILL)
            sc = structured(results[0])
            assert results[0].is_error, sc
            assert sc["error_type"] == "daemon_stopped", sc
            assert "stopped during the call" in sc["message"], sc
            assert "may still be running on the host" in sc["message"], sc
            assert "h2" not in sc["message"], sc

            r = ok_result(await client.call_tool("ssh_exec", {"target": "testhost", "command": "echo again"}))
            assert r["stdout"] == "again\n"
            second = harness.daemon_pid()
            assert second != first and alive(second)
    finally:
        # The killed daemon could not end its command: the remote sleep is this test's to end.
        for pid in procs_mentioning(str(mark)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
