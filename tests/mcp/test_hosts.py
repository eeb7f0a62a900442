"""ssh_hosts through a real MCP client: the concrete hosts of a configuration that uses
Include (an absolute file and a glob), a Match block, a wildcard Host and a ProxyJump, each as
`ssh -G` resolves it; a change to the configuration is seen on the next call."""

from __future__ import annotations

import os

import pytest

from mcptest import ok_result

pytestmark = pytest.mark.anyio


def write_config(harness) -> tuple[str, os.PathLike]:
    d = harness.marker_dir("hostsconf")
    (d / "conf.d").mkdir()
    (d / "conf.d" / "a.conf").write_text("Host alpha\n  HostName alpha.example\n  Port 2222\n")
    (d / "conf.d" / "notes.txt").write_text("Host not-included\n")
    main = d / "main.conf"
    main.write_text(
        f"Include {harness.sshd.config}\n"
        f"Include {d}/conf.d/*.conf\n"
        "Host web1 web2 *.wild !bad\n"
        "  HostName 127.0.0.1\n"
        "Host jumped\n"
        "  HostName 10.9.9.9\n"
        "  ProxyJump testhost\n"
        "Match originalhost web2\n"
        "  User matchuser\n"
        "Host *\n"
        "  ServerAliveInterval 7\n"
    )
    os.chmod(main, 0o600)
    return str(main), d


async def test_hosts_lists_the_concrete_hosts_as_ssh_resolves_them(harness):
    main, d = write_config(harness)
    async with harness.client(SSH_MCP_SSH_CONFIG=main) as client:
        r = ok_result(await client.call_tool("ssh_hosts", {}))
        by_name = {h["name"]: h for h in r["hosts"]}
        assert [h["name"] for h in r["hosts"]] == ["testhost", "alpha", "web1", "web2", "jumped"], r
        assert r["count"] == 5
        assert (by_name["testhost"]["hostname"], by_name["testhost"]["port"]) == ("127.0.0.1", harness.sshd.port)
        assert (by_name["alpha"]["hostname"], by_name["alpha"]["port"]) == ("alpha.example", 2222)
        assert by_name["alpha"]["file"] == str(d / "conf.d" / "a.conf") and by_name["alpha"]["line"] == 1
        assert by_name["web2"]["user"] == "matchuser", by_name["web2"]  # the Match block applied
        assert by_name["web1"]["user"] != "matchuser"
        assert by_name["jumped"]["proxy_jump"] == "testhost"
        assert "proxy_jump" not in by_name["web1"]
        assert (by_name["web1"]["file"], by_name["web1"]["line"]) == (main, 3)
        assert r["files"] == [main, str(harness.sshd.config), str(d / "conf.d" / "a.conf")]
        # A connection shows once it is used.
        assert by_name["testhost"]["connection"] == "none"
        ok_result(await client.call_tool("ssh_exec", {"target": "testhost", "command": "true"}))
        again = ok_result(await client.call_tool("ssh_hosts", {"filter": "TEST*"}))
        assert [h["name"] for h in again["hosts"]] == ["testhost"]
        assert again["hosts"][0]["connection"] == "idle", again
        # A new file that the Include glob matches is seen on the next call.
        (d / "conf.d" / "b.conf").write_text("Host gamma\n  User g\n")
        seen = ok_result(await client.call_tool("ssh_hosts", {"filter": "gamma"}))
        assert [(h["name"], h["user"]) for h in seen["hosts"]] == [("gamma", "g")], seen
    people = harness.cli("hosts", "web*", SSH_MCP_SSH_CONFIG=main)
    assert people.returncode == 0, people
    assert "web1" in people.stdout and "web2" in people.stdout and "alpha" not in people.stdout, people.stdout


async def test_probe_reports_reachable_unreachable_and_denied_hosts(harness):
    d = harness.marker_dir("probeconf")
    main = d / "main.conf"
    # An address nothing listens on, and a host the policy keeps commands off.
    main.write_text(
        f"Include {harness.sshd.config}\n"
        "Host deadport\n  HostName 127.0.0.1\n  Port 9\n  ConnectTimeout 3\n"
        "Host offlimits\n  HostName 127.0.0.1\n"
    )
    policy = harness.dir / "config" / "ssh-mcp" / "policy.toml"
    policy.write_text(policy.read_text() + '\n[[target]]\nmatch = ["offlimits"]\ndeny = true\n')
    async with harness.client(SSH_MCP_SSH_CONFIG=str(main)) as client:
        r = ok_result(await client.call_tool("ssh_hosts", {"probe": True}))
    by_name = {h["name"]: h for h in r["hosts"]}
    assert by_name["testhost"]["reachable"] is True and by_name["testhost"]["policy"] == "allow"
    assert by_name["deadport"]["reachable"] is False
    assert "refused" in by_name["deadport"]["probe_error"].lower(), by_name["deadport"]
    # Reported as denied, not dropped, and not probed.
    assert by_name["offlimits"]["policy"] == "deny" and "reachable" not in by_name["offlimits"]
    assert "policy" in by_name["offlimits"]["probe_error"]
