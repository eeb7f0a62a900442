"""Driver for test_ten_clients_one_daemon, run as pid 1 of a private pid + mount namespace.

The namespace has its own empty tmpfs on /tmp (and on /run/user), so the shim's default socket
path (no SSH_MCP_SOCKET in a stripped environment) is private to this run. Reads its settings as
JSON on stdin (the test's files under /tmp are hidden here), writes a JSON report on stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import anyio
from mcp import Client, StdioServerParameters

N = 10


def live_daemons() -> list[int]:
    """Live ssh-mcpd processes; /proc is this namespace's, so these are ours only."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            comm = open(f"/proc/{p}/comm").read().strip()
            stat = open(f"/proc/{p}/stat").read()
        except OSError:
            continue
        if comm == "ssh-mcpd" and stat[stat.rindex(")") + 2] not in "ZX":
            pids.append(int(p))
    return pids


def cli(shim: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([shim, *args], capture_output=True, text=True, timeout=30)


async def one_client(i: int, cfg: dict, keys: dict, start: anyio.Event, out: dict) -> None:
    await start.wait()
    params = StdioServerParameters(command=cfg["shim"], args=[], env=None)  # stripped env only
    async with Client(params, mode="legacy") as client:
        r = await client.call_tool(
            "ssh_exec",
            {
                "target": f"{cfg['user']}@127.0.0.1",
                "port": cfg["port"],
                "identity_file": keys["identity"],
                "known_hosts_file": keys["known_hosts"],
                "strict_host_key_checking": "yes",
                "command": f"echo client-{i}",
            },
        )
        out[i] = {"is_error": r.is_error, "structured": r.structured_content}


async def run_clients(cfg: dict, keys: dict) -> dict:
    out: dict[int, dict] = {}
    start = anyio.Event()
    async with anyio.create_task_group() as tg:
        for i in range(N):
            tg.start_soon(one_client, i, cfg, keys, start, out)
        start.set()  # all ten spawn their shims at once
    return out


def main() -> None:
    cfg = json.load(sys.stdin)
    report: dict = {
        "pid_in_namespace": os.getpid(),
        "init": open("/proc/1/cmdline", "rb").read().replace(b"\0", b" ").decode(),
        "daemons_before": live_daemons(),
    }
    # The keys live where the default policy lets a connection name them: under ~/.ssh.
    home = "/tmp/home"
    os.makedirs(f"{home}/.ssh", mode=0o700)
    keys = {"identity": f"{home}/.ssh/id_ed25519", "known_hosts": f"{home}/.ssh/known_hosts"}
    for name, text in (("identity", cfg["identity_text"]), ("known_hosts", cfg["known_hosts_text"])):
        fd = os.open(keys[name], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
    # The stripped environment MCP clients give their servers: nothing of ours survives.
    os.environ.clear()
    os.environ.update(
        HOME=home, PATH=cfg["path"], USER=cfg["user"], SHELL=cfg.get("shell", "/bin/sh"), TERM="dumb"
    )

    t0 = time.monotonic()
    results = anyio.run(run_clients, cfg, keys)
    report["clients_seconds"] = round(time.monotonic() - t0, 2)
    report["results"] = {str(k): v for k, v in sorted(results.items())}
    report["daemons_after_clients"] = live_daemons()
    st = cli(cfg["shim"], "daemon", "status")
    report["status_rc"] = st.returncode
    report["status"] = st.stdout
    stop = cli(cfg["shim"], "daemon", "stop")
    report["stop_rc"] = stop.returncode
    report["stop"] = stop.stdout + stop.stderr
    deadline = time.monotonic() + 10
    while live_daemons() and time.monotonic() < deadline:
        time.sleep(0.05)
    report["daemons_after_stop"] = live_daemons()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
