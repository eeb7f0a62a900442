"""Fixtures for the MCP client tests: a real sshd, and per-test private daemon environments.

Every test gets its own socket and state directory (a short 0700 dir under /tmp), so the daemon
it autospawns is its own. Teardown stops that daemon (the pid it reports, nothing else) and checks
that no process referring to the private dir (shims, daemon, ssh control masters) is left.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from mcptest import (
    DAEMON,
    SHIM,
    base_env,
    alive,
    children_of,
    parse_status,
    procs_mentioning,
    wait_until,
)

SSHD = "/usr/sbin/sshd"


@pytest.fixture
def anyio_backend():
    return "asyncio"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ssh-mcp-test", "-f", str(path)],
        check=True,
    )


def _banner(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.settimeout(1)
            return s.recv(64).startswith(b"SSH-")
    except OSError:
        return False


@dataclass
class Sshd:
    dir: Path
    port: int
    user: str
    config: Path  # ssh_config with Host testhost
    identity: Path
    known_hosts: Path
    proc: subprocess.Popen

    def authorize(self, user: str) -> None:
        """Lets `user` log in with this sshd's test key (`identity`)."""
        key = self.dir / "keys" / user
        shutil.copy(self.identity.with_suffix(".pub"), key)
        os.chmod(key, 0o644)


LOGIN_SHELLS = ("bash", "dash", "zsh", "fish", "tcsh")


def login_shell_account(shell: str) -> str:
    """The account `smcp-<shell>` with `shell` as login shell (the accounts of
    tests/login_shells.rs, made the same way: password field `*`, since sshd without PAM refuses a
    locked account even for keys), created or repaired when needed; returns its name."""
    user = f"smcp-{shell}"
    path = next((p for p in (f"/usr/bin/{shell}", f"/bin/{shell}") if os.path.isfile(p)), None)
    assert path, f"{shell} is not installed; scripts/test.sh installs it"

    def ready() -> bool:
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            entry = None
        if entry is not None and entry.pw_shell == path:
            with open("/etc/shadow") as f:
                fields = next((line.split(":") for line in f if line.split(":")[0] == user), None)
            if fields and not fields[1].startswith("!"):
                return True
        args = ["usermod", "-s", path, "-p", "*", user] if entry else ["useradd", "-m", "-s", path, "-p", "*", user]
        # A parallel run may hold the lock on /etc/passwd: tried again until the deadline.
        subprocess.run(args, capture_output=True)
        return False

    assert os.geteuid() == 0, "the login-shell accounts are made with useradd, as root"
    wait_until(ready, 30, f"the account {user}")
    return user


class PortTaken(Exception):
    """sshd could not bind the port picked for it: somebody took it in between."""


BIND_FAILURES = ("Address already in use", "Cannot bind any address")


def write_configs(d: Path, port: int, user: str) -> None:
    # MaxSessions and MaxStartups stay at OpenSSH's defaults on purpose.
    (d / "sshd_config").write_text(
        f"""Port {port}
ListenAddress 127.0.0.1
HostKey {d}/host_ed25519
# One file per account (sshd reads it as the account): the key of Sshd.authorize'd accounts.
AuthorizedKeysFile {d}/keys/%u
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
AllowTcpForwarding yes
PermitRootLogin yes
Subsystem sftp internal-sftp
LogLevel ERROR
# Debian's bash reads ~/.bashrc for every command sshd runs; keep this account's out of the tests.
SetEnv SHLVL=1
"""
    )
    host_pub = (d / "host_ed25519.pub").read_text().split()[:2]
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {' '.join(host_pub)}\n")
    (d / "ssh_config").write_text(
        f"""Host testhost
  HostName 127.0.0.1
  Port {port}
  User {user}
  IdentityFile {d}/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile {d}/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
"""
    )
    os.chmod(d / "ssh_config", 0o600)


def start_sshd(d: Path, port: int, user: str, log) -> subprocess.Popen:
    """Starts sshd on port and waits for its banner; raises PortTaken when the port was taken."""
    write_configs(d, port, user)
    log.seek(0)
    log.truncate()
    proc = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(d / "sshd_config")],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def ready():
        if proc.poll() is not None:
            text = (d / "sshd.log").read_text(errors="replace")
            if any(f in text for f in BIND_FAILURES):
                raise PortTaken(text)
            raise AssertionError(f"sshd exited with {proc.returncode}: {text}")
        return _banner(port)

    try:
        wait_until(ready, 15, f"sshd to answer on 127.0.0.1:{port}")
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise
    return proc


@pytest.fixture(scope="session")
def sshd():
    assert SHIM.is_file() and DAEMON.is_file(), (
        f"build the binaries first (cargo build --workspace --bins): {SHIM}, {DAEMON}"
    )
    os.makedirs("/run/sshd", exist_ok=True)
    d = Path(tempfile.mkdtemp(prefix="mcpt-sshd-", dir="/tmp"))
    user = pwd.getpwuid(os.getuid()).pw_name
    keygen(d / "host_ed25519")
    keygen(d / "id_ed25519")
    # Other accounts reach their key file: the folder is passable, the keys readable (the private
    # key stays 0600).
    os.chmod(d, 0o711)
    (d / "keys").mkdir(mode=0o755)
    os.chmod(d / "keys", 0o755)
    log = open(d / "sshd.log", "wb")
    # A port picked free may be taken before sshd binds it (other tests run in parallel): pick
    # another one then.
    proc = None
    try:
        for attempt in range(5):
            port = _free_port()
            try:
                proc = start_sshd(d, port, user, log)
                break
            except PortTaken as e:
                print(f"sshd: port {port} was taken (attempt {attempt + 1}): {e}", file=sys.stderr)
        assert proc is not None, "sshd could not bind a free port in 5 attempts"
    except BaseException:
        log.close()
        shutil.rmtree(d, ignore_errors=True)
        raise

    leftover_children: list[int] = []
    try:
        server = Sshd(
            dir=d,
            port=port,
            user=user,
            config=d / "ssh_config",
            identity=d / "id_ed25519",
            known_hosts=d / "known_hosts",
            proc=proc,
        )
        server.authorize(user)
        yield server
        # Every daemon has been stopped by now, and with it every ssh connection to this sshd:
        # the per-connection sshd processes (the listener's children) must have gone too.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            leftover_children = children_of(proc.pid)
            if not leftover_children:
                break
            time.sleep(0.05)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(d, ignore_errors=True)
    assert not leftover_children, f"ssh connections still open at the end: {leftover_children}"


@dataclass
class Harness:
    """One test's private daemon world: socket, state dir and the sshd's ssh_config."""

    dir: Path
    sshd: Sshd
    env: dict[str, str]
    daemon_pids: set[int] = field(default_factory=set)

    @property
    def socket(self) -> Path:
        return Path(self.env["SSH_MCP_SOCKET"])

    @property
    def state_dir(self) -> Path:
        return Path(self.env["SSH_MCP_STATE_DIR"])

    def params(self, **extra_env: str) -> StdioServerParameters:
        return StdioServerParameters(command=str(SHIM), args=[], env={**self.env, **extra_env})

    def client(self, mode: str = "legacy", **extra_env: str) -> Client:
        return Client(self.params(**extra_env), mode=mode)

    def cli(self, *args: str, timeout: float = 30, **extra_env: str) -> subprocess.CompletedProcess:
        """Runs the human CLI (`ssh-mcp daemon status` ...) in this test's environment."""
        return subprocess.run(
            [str(SHIM), *args],
            env={**base_env(), **self.env, **extra_env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def status(self) -> dict[str, str] | None:
        """Parsed `ssh-mcp daemon status`, or None when it says the daemon is not running (exit 3)."""
        r = self.cli("daemon", "status")
        if r.returncode == 3:
            return None
        assert r.returncode == 0, f"daemon status failed ({r.returncode}): {r.stdout}{r.stderr}"
        s = parse_status(r.stdout)
        assert s.get("socket", "").split(" ")[0] == str(self.socket), r.stdout
        self.daemon_pids.add(int(s["pid"]))
        return s

    def daemon_pid(self) -> int:
        s = self.status()
        assert s is not None, "ssh-mcpd is not running"
        return int(s["pid"])

    def marker_dir(self, name: str) -> Path:
        """A fresh directory whose path is unique to this test, for pid files and markers."""
        p = self.dir / name
        p.mkdir(mode=0o700)
        return p

    def log_tail(self) -> str:
        log = self.state_dir / "ssh-mcpd.log"
        try:
            return log.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no daemon log)"

    def teardown(self) -> None:
        s = self.status()
        if s is not None:
            os.kill(int(s["pid"]), signal.SIGTERM)
        for pid in self.daemon_pids:
            wait_until(lambda: not alive(pid), 15, f"ssh-mcpd pid {pid} to exit after SIGTERM")
        # Shims, the daemon and its ssh control masters all carry the private dir in their
        # environment or command line; none may outlive the test.
        marker = f"{self.dir}/"
        deadline = time.monotonic() + 10
        left = procs_mentioning(marker)
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = procs_mentioning(marker)
        for pid in left:  # ours (they refer to our private dir): do not leak them into other tests
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        assert not left, f"processes left behind by the test: {left}"


@pytest.fixture
def harness(sshd):
    d = Path(tempfile.mkdtemp(prefix="mcpt-", dir="/tmp"))  # mkdtemp: mode 0700, ours
    run = d / "run"
    run.mkdir(mode=0o700)
    # The default policy lets uploads read only the home directory; the tests' files live in
    # /tmp. Everything else is the default policy.
    policy = d / "config" / "ssh-mcp" / "policy.toml"
    policy.parent.mkdir(parents=True)
    policy.write_text('[local]\nread = ["/"]\nwrite = ["/"]\nssh_files = ["/"]\n')
    env = {
        "XDG_CONFIG_HOME": str(d / "config"),
        "SSH_MCP_SOCKET": str(run / "ssh-mcpd.sock"),
        "SSH_MCP_STATE_DIR": str(d / "state"),
        "SSH_MCP_SSH_CONFIG": str(sshd.config),
    }
    assert len(env["SSH_MCP_SOCKET"]) < 100
    h = Harness(dir=d, sshd=sshd, env=env)
    try:
        yield h
    finally:
        try:
            h.teardown()
        finally:
            print(f"--- ssh-mcpd log ({h.state_dir}) ---\n{h.log_tail()}", file=sys.stderr)
            shutil.rmtree(d, ignore_errors=True)
