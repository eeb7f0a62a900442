"""ssh_exec_many through a real MCP client: twenty targets (aliases of the test sshd, one
unreachable), identical answers grouped, globs over the configured hosts, the time of the
slowest host, and cancellation that leaves no process on the host."""

from __future__ import annotations

import json
import os
import time
import uuid

import anyio
import pytest

from conftest import LOGIN_SHELLS, login_shell_account
from mcptest import await_until, ok_result, procs_mentioning

pytestmark = pytest.mark.anyio


SHELLS_SORTED = sorted(LOGIN_SHELLS)


def fleet_config(harness, n: int = 19, accounts: bool = False) -> str:
    """A config with testhost (from the fixture), aliases h01..h{n-1} of it, with `accounts` also
    u-bash, u-dash, u-fish, u-tcsh and u-zsh (the login-shell accounts on the same sshd), and
    `dead` (nothing listens there)."""
    d = harness.marker_dir("fleet")
    sshd = harness.sshd
    common = [f"  IdentityFile {sshd.identity}", "  IdentitiesOnly yes",
              f"  UserKnownHostsFile {sshd.known_hosts}", "  StrictHostKeyChecking yes", "  BatchMode yes"]
    lines = [f"Include {sshd.config}"]
    for i in range(1, n):
        lines += [f"Host h{i:02d}", "  HostName 127.0.0.1", f"  Port {sshd.port}", f"  User {sshd.user}", *common]
    for shell in SHELLS_SORTED if accounts else ():
        user = login_shell_account(shell)
        sshd.authorize(user)
        lines += [f"Host u-{shell}", "  HostName 127.0.0.1", f"  Port {sshd.port}", f"  User {user}", *common]
    lines += ["Host dead", "  HostName 127.0.0.1", "  Port 9"]
    path = d / "fleet.conf"
    path.write_text("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return str(path)


async def test_twenty_targets_grouped_with_the_unreachable_one_reported(harness):
    # testhost, thirteen aliases of it, five accounts with other login shells, one dead host.
    config = fleet_config(harness, n=14, accounts=True)
    aliases = [f"h{i:02d}" for i in range(1, 14)]
    accounts = [f"u-{shell}" for shell in SHELLS_SORTED]
    async with harness.client(SSH_MCP_SSH_CONFIG=config) as client:
        targets = ["testhost", "h*", "u-*", "dead"]
        # Cold: nineteen masters asked for at once, all to one sshd, whose MaxStartups (10:30:100)
        # drops some of more unauthenticated connections; the pool opens eight at a time there.
        who = ok_result(await client.call_tool(
            "ssh_exec_many", {"targets": targets, "command": "id -un", "parallelism": 20}))
        started = time.monotonic()
        r = ok_result(await client.call_tool(
            "ssh_exec_many", {"targets": targets, "command": "sleep 1; echo same", "parallelism": 20}))
        took = time.monotonic() - started
    assert (who["ok_count"], who["failed_count"]) == (19, 1), who
    # Every row ran as its account, under its login shell's sh wrapper.
    users = {row["target"]: who["groups"][row["group"]]["stdout"] for row in who["results"] if "group" in row}
    for shell in SHELLS_SORTED:
        assert users[f"u-{shell}"] == f"smcp-{shell}\n", users
    for name in ["testhost", *aliases]:
        assert users[name] == f"{harness.sshd.user}\n", users
    # Six answers: the fixture's account (fourteen targets) and each login-shell account.
    assert sorted(len(g["targets"]) for g in who["groups"]) == [1, 1, 1, 1, 1, 14], who["groups"]

    names = [row["target"] for row in r["results"]]
    assert names == ["testhost", *aliases, *accounts, "dead"], names
    assert (r["ok_count"], r["failed_count"], r["ok"]) == (19, 1, False)
    (group,) = r["groups"]
    assert group["stdout"] == "same\n" and group["exit_code"] == 0 and len(group["targets"]) == 19
    dead = r["results"][-1]
    assert dead["ok"] is False and "group" not in dead
    assert dead["error_type"] == "connection_error" and "refused" in dead["error"].lower(), dead
    # In parallel: the time of the slowest host plus a small overhead, not twenty seconds.
    assert took < 4.0, took


async def test_cancellation_ends_the_command_on_every_host(harness):
    config = fleet_config(harness, n=5)
    marker = f"SMCP_MANY_{uuid.uuid4().hex[:8]}"
    outcome: dict[str, object] = {}
    async with harness.client(SSH_MCP_SSH_CONFIG=config) as client:
        async with anyio.create_task_group() as tg:
            scopes: list[anyio.CancelScope] = []

            async def run():
                with anyio.move_on_after(120) as scope:
                    scopes.append(scope)
                    outcome["result"] = await client.call_tool("ssh_exec_many", {
                        "targets": ["testhost", "h0*"], "command": "sleep 300", "env": {marker: "1"}})
                outcome["cancelled"] = scope.cancelled_caught

            tg.start_soon(run)
            await await_until(lambda: len(procs_mentioning(marker)) >= 5, 30, "five remote sleeps")
            scopes[0].cancel()  # abandoning the call sends notifications/cancelled
        assert outcome.get("cancelled") is True and "result" not in outcome, outcome
        await await_until(lambda: not procs_mentioning(marker), 20, "the remote sleeps to end")


async def test_unmatched_globs_and_bad_parallelism_are_reported(harness):
    config = fleet_config(harness, n=3)
    async with harness.client(SSH_MCP_SSH_CONFIG=config) as client:
        r = ok_result(await client.call_tool("ssh_exec_many", {"targets": ["h*", "nomatch*"], "command": "echo hi"}))
        assert [row["target"] for row in r["results"]] == ["h01", "h02"]
        assert r["unmatched"] == ["nomatch*"]
        bad = await client.call_tool("ssh_exec_many", {"targets": ["h01"], "command": "true", "parallelism": 0})
        assert bad.is_error


async def test_a_denied_target_is_a_row_and_every_target_is_in_the_audit_trail(harness):
    config = fleet_config(harness, n=3)
    policy = harness.dir / "config" / "ssh-mcp" / "policy.toml"
    policy.write_text(policy.read_text() + '\n[[target]]\nmatch = ["h02"]\ndeny = true\n')
    async with harness.client(SSH_MCP_SSH_CONFIG=config) as client:
        r = ok_result(await client.call_tool("ssh_exec_many", {"targets": ["h01", "h02"], "command": "echo hi"}))
    ok_row, denied = r["results"]
    assert ok_row["ok"] and ok_row["target"] == "h01"
    assert denied["error_type"] == "policy_denied" and "h02" in denied["error"], denied
    assert (r["ok_count"], r["failed_count"]) == (1, 1)
    records = [json.loads(line) for line in (harness.state_dir / "audit.jsonl").read_text().splitlines()]
    many = [(rec["target"], rec["decision"]) for rec in records if rec["tool"] == "ssh_exec_many"]
    assert sorted(many) == [("h01", "allowed"), ("h02", "denied")], many
