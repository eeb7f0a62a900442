"""Helpers shared by the MCP client tests: binaries, process scans, polling with deadlines."""

from __future__ import annotations

import inspect
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

import anyio

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("SSH_MCP_BIN_DIR") or REPO / "target" / "debug")
SHIM = BIN_DIR / "ssh-mcp"
DAEMON = BIN_DIR / "ssh-mcpd"
# The seed's tools/list answer, verbatim: the seed is the MCP server ssh-mcp replaces, and this file
# is what its tools/list returned (its 17 tools). It is the reference for names and parameters.
SEED_TOOLS = REPO / "tests" / "data" / "seed-tools-list.json"
# The MCP Inspector CLI, installed by scripts/test.sh from tests/mcp/package.json.
INSPECTOR = REPO / "tests" / "mcp" / "node_modules" / ".bin" / "mcp-inspector"

# The variables MCP clients typically let through to the servers they spawn.
STRIPPED_VARS = ("HOME", "PATH", "USER", "SHELL", "TERM")

T = TypeVar("T")


def base_env() -> dict[str, str]:
    """What an MCP client passes on by default: only the few variables that survive stripping."""
    return {k: os.environ[k] for k in STRIPPED_VARS if k in os.environ}


def wait_until(cond: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Polls cond until it returns something truthy; fails with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


async def await_until(cond: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """wait_until for async code: sleeps with anyio so other tasks keep running. `cond` may be
    a coroutine function (a tool call that answers whether the condition holds)."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await anyio.sleep(interval)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def proc_state(pid: int) -> str | None:
    """The one-letter state of pid from /proc/<pid>/stat, or None when there is no such process."""
    stat = _read(f"/proc/{pid}/stat").decode(errors="replace")
    if not stat:
        return None
    # comm may contain spaces and parentheses: the state follows the last ')'.
    return stat[stat.rindex(")") + 2]


def alive(pid: int) -> bool:
    """True when pid exists and is not a zombie (a zombie has already ended)."""
    state = proc_state(pid)
    return state is not None and state not in ("Z", "X")


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def procs_mentioning(marker: str, *, environ: bool = True) -> dict[int, str]:
    """Live processes (not zombies, not us) whose command line or environment contains marker.

    Returns pid -> command line, for error messages."""
    needle = marker.encode()
    found: dict[int, str] = {}
    me = os.getpid()
    for pid in all_pids():
        if pid == me:
            continue
        cmdline = _read(f"/proc/{pid}/cmdline")
        hit = needle in cmdline
        if not hit and environ:
            hit = needle in _read(f"/proc/{pid}/environ")
        if hit and alive(pid):
            found[pid] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


def procs_named(comm: str) -> list[int]:
    """Live processes whose /proc/<pid>/comm is exactly comm (like pgrep -x)."""
    out = []
    for pid in all_pids():
        if _read(f"/proc/{pid}/comm").decode(errors="replace").strip() == comm and alive(pid):
            out.append(pid)
    return out


def children_of(pid: int) -> list[int]:
    kids: list[int] = []
    for task in _read_dir(f"/proc/{pid}/task"):
        kids += [int(c) for c in _read(f"/proc/{pid}/task/{task}/children").split()]
    return [k for k in kids if alive(k)]


def _read_dir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


STATUS_LINE = re.compile(r"^([a-z ]+):\s+(.*)$")


def parse_status(text: str) -> dict[str, str]:
    """`ssh-mcp daemon status` output -> {"socket": ..., "pid": ..., ...}."""
    out = {}
    for line in text.splitlines():
        m = STATUS_LINE.match(line)
        if m:
            out[m.group(1).strip()] = m.group(2).strip()
    return out


def structured(result) -> dict:
    """The structuredContent of a CallToolResult, with a readable failure when it is missing."""
    assert result.structured_content is not None, f"no structuredContent in {result!r}"
    return result.structured_content


def ok_result(result) -> dict:
    """structuredContent of a result that must not be an error."""
    sc = structured(result)
    assert not result.is_error, f"tool call failed: {sc}"
    return sc


class RawShim:
    """A shim driven with raw JSON-RPC lines, in its own process group like MCP clients do."""

    def __init__(self, env: dict[str, str], errlog: Path):
        self.err = open(errlog, "wb")
        self.proc = subprocess.Popen(
            [str(SHIM)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.err,
            env=env,
            start_new_session=True,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def send_line(self, line: bytes) -> None:
        self.proc.stdin.write(line + b"\n")
        self.proc.stdin.flush()

    def send(self, msg: Any) -> None:
        self.send_line(json.dumps(msg).encode())

    def initialize(self, id_: int = 1, capabilities: dict | None = None) -> dict:
        self.send({"jsonrpc": "2.0", "id": id_, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": capabilities or {},
            "clientInfo": {"name": "raw-test", "version": "0"}}})
        init = self.response(id_)
        assert "result" in init, init
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return init

    def next_matching(self, pred: Callable[[Any], bool], what: str, timeout: float = 20) -> Any:
        """The next message on stdout for which pred is true (others are passed over)."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            left = deadline - time.monotonic()
            try:
                msg = self.lines.get(timeout=max(0.01, left))
            except queue.Empty:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; saw {seen}") from None
            assert msg is not None, f"the shim closed stdout while waiting for {what}; saw {seen}"
            if pred(msg):
                return msg
            seen.append(msg)

    def response(self, id_: Any, timeout: float = 20) -> dict:
        return self.next_matching(
            lambda m: isinstance(m, dict) and m.get("id") == id_, f"the answer to id {id_!r}", timeout
        )

    def close(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(10)
        self.err.close()
