"""The user's policy, through a real MCP client: each tool class allowed and refused per rule,
`deny`, the first match winning, globs on the alias, on user@host and on the HostName that
`ssh -G` resolves, a change picked up without a restart, an invalid file keeping the previous
policy in force (and `ssh-mcp policy check` naming its line), and the defaults that protect keys,
ssh files and start-up files whatever the file says."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import anyio
import pytest

from conftest import login_shell_account
from mcptest import await_until, ok_result, structured, wait_until

pytestmark = pytest.mark.anyio

TARGET = "testhost"
# Local paths of the tests live in /tmp; the default [local] allows only the home for uploads.
WIDE_LOCAL = '[local]\nread = ["/"]\nwrite = ["/"]\nssh_files = ["/"]\n'


def policy_path(harness) -> Path:
    return harness.dir / "config" / "ssh-mcp" / "policy.toml"


def write_policy(harness, text: str) -> None:
    """Replaces the policy file in one step (as an editor that renames does)."""
    path = policy_path(harness)
    tmp = path.with_suffix(".new")
    tmp.write_text(text)
    os.replace(tmp, path)


def denied(result) -> str:
    sc = structured(result)
    assert result.is_error, f"expected a refusal, got {sc}"
    assert sc["error_type"] == "policy_denied", sc
    return sc["message"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_each_class_is_allowed_or_refused_by_its_rule(harness, tmp_path):
    write_policy(
        harness,
        '[[target]]\nmatch = ["testhost"]\nallow = ["read"]\n\n' + WIDE_LOCAL,
    )
    up = tmp_path / "up.txt"
    up.write_text("x\n")
    with anyio.fail_after(90):
        async with harness.client() as client:
            ok_result(await client.call_tool("ssh_view", {"target": TARGET, "path": "/etc/hostname"}))
            ok_result(await client.call_tool("ssh_glob", {"target": TARGET, "pattern": "host*", "path": "/etc"}))
            message = denied(await client.call_tool("ssh_exec", {"target": TARGET, "command": "touch /tmp/policy-ran"}))
            assert str(policy_path(harness)) in message, message
            assert "match = [testhost]" in message and "exec" in message, message
            assert not Path("/tmp/policy-ran").exists()
            for tool, args in [
                ("ssh_create", {"target": TARGET, "path": "/tmp/policy-created", "content": "x"}),
                ("ssh_start_session", {"target": TARGET, "session_name": "p"}),
                ("ssh_scp", {"target": TARGET, "direction": "upload", "sources": [str(up)],
                             "destination": "/tmp/policy-up"}),
                ("ssh_forward", {"target": TARGET, "direction": "local", "local_port": free_port(),
                                 "remote_host": "127.0.0.1", "remote_port": 22}),
            ]:
                message = denied(await client.call_tool(tool, args))
                assert "match = [testhost]" in message, (tool, message)
            assert not Path("/tmp/policy-created").exists()
            assert not Path("/tmp/policy-up").exists()
            # Listing tools are always allowed.
            ok_result(await client.call_tool("ssh_list_sessions", {}))
            ok_result(await client.call_tool("ssh_list_forwards", {}))


async def test_deny_the_first_match_and_every_name_of_the_target(harness):
    user = harness.sshd.user
    # The alias `testhost` resolves (ssh -G) to HostName 127.0.0.1: a rule for that address
    # comes first and refuses everything, though a later rule names the alias itself.
    write_policy(
        harness,
        '[[target]]\nmatch = ["127.0.0.*"]\ndeny = true\n\n'
        '[[target]]\nmatch = ["testhost"]\n\n' + WIDE_LOCAL,
    )
    with anyio.fail_after(90):
        async with harness.client() as client:
            message = denied(await client.call_tool("ssh_view", {"target": TARGET, "path": "/etc/hostname"}))
            assert "match = [127.0.0.*]" in message, message
            # The user@host form.
            write_policy(
                harness,
                f'[[target]]\nmatch = ["{user}@testhost"]\nallow = ["exec"]\n\n' + WIDE_LOCAL,
            )

            async def view_refused() -> bool:
                r = await client.call_tool("ssh_view", {"target": TARGET, "path": "/etc/hostname"})
                return r.is_error and "@testhost" in structured(r)["message"]

            await await_until(view_refused, 5, "the user@host rule in force")
            ok_result(await client.call_tool("ssh_exec", {"target": TARGET, "command": "true"}))
            # A target that matches no rule takes [default] (everything, without a file's say).
            write_policy(harness, '[default]\nallow = ["read"]\n\n[[target]]\nmatch = ["other-*"]\ndeny = true\n\n' + WIDE_LOCAL)

            async def exec_refused() -> bool:
                r = await client.call_tool("ssh_exec", {"target": TARGET, "command": "true"})
                return r.is_error and "[default]" in structured(r)["message"]

            await await_until(exec_refused, 5, "the [default] rule in force")
            ok_result(await client.call_tool("ssh_view", {"target": TARGET, "path": "/etc/hostname"}))


async def test_a_change_is_in_force_within_two_seconds_and_a_bad_one_keeps_the_old(harness):
    with anyio.fail_after(90):
        async with harness.client() as client:
            ok_result(await client.call_tool("ssh_exec", {"target": TARGET, "command": "true"}))
            write_policy(harness, '[default]\nallow = ["read"]\n\n' + WIDE_LOCAL)
            changed = time.monotonic()

            async def refused() -> bool:
                r = await client.call_tool("ssh_exec", {"target": TARGET, "command": "true"})
                return r.is_error

            await await_until(refused, 2.0, "the new policy within 2 s")
            took = time.monotonic() - changed
            assert took <= 2.0, took

            # A file that does not parse: the previous policy stays in force, and says why.
            write_policy(harness, '[default]\nallow = ["read", "exce"]\n')
            status = wait_until(
                lambda: (s := harness.status()) and "NOT IN FORCE" in s.get("policy", "") and s,
                5,
                "the policy's error in `ssh-mcp daemon status`",
            )
            assert "line 2" in status["policy"], status
            assert structured(await client.call_tool("ssh_exec", {"target": TARGET, "command": "true"}))["error_type"] == "policy_denied"
            ok_result(await client.call_tool("ssh_view", {"target": TARGET, "path": "/etc/hostname"}))

    check = harness.cli("policy", "check")
    assert check.returncode == 1, check
    assert "line 2, column" in check.stdout and "exce" in check.stdout, check.stdout
    other = harness.dir / "other.toml"
    other.write_text('[[target]]\nmatch = ["a"]\n\n[[target]]\nallow = ["read"]\n')
    check = harness.cli("policy", "check", str(other))
    assert check.returncode == 1 and "line 4" in check.stdout, check.stdout
    other.write_text('[[target]]\nmatch = ["a"]\ndeny = true\n')
    check = harness.cli("policy", "check", str(other))
    assert check.returncode == 0 and "valid (1 [[target]] rule)" in check.stdout, check.stdout
    explain = harness.cli("policy", "explain", TARGET)
    assert explain.returncode == 0, explain
    assert "127.0.0.1" in explain.stdout, explain.stdout  # the resolved HostName
    assert "exec      deny" in explain.stdout and "read      allow" in explain.stdout, explain.stdout


async def test_the_defaults_protect_keys_and_ssh_files(harness, tmp_path):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    key = home / ".ssh" / "id_ed25519"
    key.write_text("PRIVATE KEY\n")
    (home / "notes.txt").write_text("fine\n")
    policy_path(harness).unlink()  # the default policy, with this home
    remote = f"/tmp/policy-defaults-{tmp_path.name}"
    with anyio.fail_after(90):
        async with harness.client(HOME=str(home)) as client:
            ok_result(await client.call_tool("ssh_exec", {"target": TARGET, "command": f"mkdir -p {remote}"}))
            message = denied(await client.call_tool("ssh_scp", {
                "target": TARGET, "direction": "upload", "sources": [str(key)], "destination": f"{remote}/k"}))
            assert "upload_secrets" in message, message
            # The whole home would include the keys.
            denied(await client.call_tool("ssh_sync", {
                "target": TARGET, "direction": "upload", "source": f"{home}/", "destination": f"{remote}/all"}))
            ok_result(await client.call_tool("ssh_scp", {
                "target": TARGET, "direction": "upload", "sources": [str(home / "notes.txt")],
                "destination": f"{remote}/notes.txt"}))
            # Downloads never write into ~/.ssh or start-up files.
            for dest in [home / ".ssh" / "authorized_keys", home / ".bashrc"]:
                message = denied(await client.call_tool("ssh_scp", {
                    "target": TARGET, "direction": "download", "sources": [f"{remote}/notes.txt"],
                    "destination": str(dest)}))
                assert "download_into_protected" in message, message
                assert not dest.exists()
            # Through a symlink that leads there, even one whose target does not exist yet (a
            # link an earlier download may have brought along).
            link = tmp_path / "innocent"
            link.symlink_to(home / ".profile")
            message = denied(await client.call_tool("ssh_scp", {
                "target": TARGET, "direction": "download", "sources": [f"{remote}/notes.txt"],
                "destination": str(link)}))
            assert ".profile" in message, message
            assert not (home / ".profile").exists()
            # Names that land straight in the home (rsync's `src/`) could be any of them.
            message = denied(await client.call_tool("ssh_sync", {
                "target": TARGET, "direction": "download", "source": f"{remote}/",
                "destination": str(home)}))
            assert "would reach" in message, message
            # A folder of its own in the home is fine.
            ok_result(await client.call_tool("ssh_sync", {
                "target": TARGET, "direction": "download", "source": f"{remote}/",
                "destination": str(home / "copy")}))
            assert (home / "copy" / "notes.txt").read_text() == "fine\n"
            # A known_hosts_file outside ~/.ssh: refused, nothing written.
            kh = tmp_path / "kh"
            message = denied(await client.call_tool("ssh_exec", {
                "target": TARGET, "command": "true", "known_hosts_file": str(kh),
                "strict_host_key_checking": "accept-new"}))
            assert "known_hosts_file" in message and "ssh_files" in message, message
            assert not kh.exists()
            r = await client.call_tool("ssh_exec", {"target": TARGET, "command": "true",
                                                    "identity_file": str(tmp_path / "id")})
            assert "identity_file" in denied(r)

            # Each can be allowed by the policy.
            write_policy(harness, '[local]\nupload_secrets = true\ndownload_into_protected = true\n'
                                  f'ssh_files = ["~/.ssh", "{tmp_path}"]\n')

            async def key_upload_allowed() -> bool:
                r = await client.call_tool("ssh_scp", {
                    "target": TARGET, "direction": "upload", "sources": [str(key)], "destination": f"{remote}/k"})
                return not r.is_error

            await await_until(key_upload_allowed, 5, "upload_secrets in force")
            ok_result(await client.call_tool("ssh_scp", {
                "target": TARGET, "direction": "download", "sources": [f"{remote}/notes.txt"],
                "destination": str(home / ".bashrc")}))
            assert (home / ".bashrc").read_text() == "fine\n"
            ok_result(await client.call_tool("ssh_exec", {
                "target": TARGET, "command": "true", "known_hosts_file": str(kh),
                "strict_host_key_checking": "accept-new"}))
            ok_result(await client.call_tool("ssh_exec", {"target": TARGET, "command": f"rm -rf {remote}"}))


async def test_an_upload_follows_no_link_out_of_the_local_rules(harness, tmp_path):
    """`scp -r` follows every link it meets in a tree, and rsync does with `--copy-links` and its
    kin: a link in an allowed folder (one an earlier download may have brought along) must not
    carry a key, or a file outside the read roots, to the host. Each link the copy would follow
    is checked as a source is; rsync's default copies a link as a link, which sends nothing."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    key = home / ".ssh" / "id_ed25519"
    key.write_text("PRIVATE KEY\n")
    outside = tmp_path / "outside.txt"  # not under the home, the default read root
    outside.write_text("OUTSIDE\n")
    (home / "hop").symlink_to(key)
    (home / "lib").mkdir()
    (home / "lib" / "k").symlink_to("../.ssh/id_ed25519")

    def tree(name: str, link: str, to: str) -> Path:
        t = home / name
        (t / "sub").mkdir(parents=True)
        (t / "readme.txt").write_text("fine\n")
        (t / "sub" / "same").symlink_to("../readme.txt")  # stays inside the tree: harmless
        (t / link).symlink_to(to)
        return t

    attacks = [
        tree("absolute", "key", str(key)),
        tree("relative-folder", "keys", "../.ssh"),
        tree("chain", "innocent", str(home / "hop")),
        tree("outside-roots", "notes", str(outside)),
        tree("nested", "lib", str(home / "lib")),  # the key's link is inside the folder it leads to
    ]
    following = [["-L"], ["--copy-links"], ["-rL"], ["--copy-unsafe-links"], ["-k"], ["--copy-dirlinks"]]
    policy_path(harness).unlink()  # the default policy, with this home
    remote = f"/tmp/policy-links-{os.getpid()}-{time.monotonic_ns()}"  # unique: the host is this machine
    with anyio.fail_after(120):
        async with harness.client(HOME=str(home)) as client:
            ok_result(await client.call_tool("ssh_exec", {"target": TARGET, "command": f"mkdir -p {remote}"}))
            for t in attacks:
                dest = f"{remote}/{t.name}"
                message = denied(await client.call_tool("ssh_scp", {
                    "target": TARGET, "direction": "upload", "sources": [str(t)],
                    "destination": dest, "recursive": True}))
                assert "would follow the link" in message and t.name in message, message
                for extra in following:
                    message = denied(await client.call_tool("ssh_sync", {
                        "target": TARGET, "direction": "upload", "source": f"{t}/",
                        "destination": dest, "extra_rsync_args": extra}))
                    assert "would follow the link" in message, (extra, message)
                gone = await client.call_tool("ssh_exec", {"target": TARGET, "command": f"test -e {dest}"})
                assert structured(gone)["exit_code"] == 1, f"{dest} exists after a refused upload"
            # rsync's default copies each link as a link: allowed, and no key arrives.
            ok_result(await client.call_tool("ssh_sync", {
                "target": TARGET, "direction": "upload", "source": f"{attacks[0]}/",
                "destination": f"{remote}/as-links"}))
            check = await client.call_tool("ssh_exec", {
                "target": TARGET,
                "command": f"test -L {remote}/as-links/key && ! grep -rq 'PRIVATE KEY' {remote}"})
            assert structured(check)["exit_code"] == 0, structured(check)
            # A tree whose only link stays inside it goes up whole, the link followed.
            clean = home / "clean"
            (clean / "sub").mkdir(parents=True)
            (clean / "readme.txt").write_text("fine\n")
            (clean / "sub" / "same").symlink_to("../readme.txt")
            up = ok_result(await client.call_tool("ssh_scp", {
                "target": TARGET, "direction": "upload", "sources": [str(clean)],
                "destination": f"{remote}/clean", "recursive": True, "checksum": True}))
            # The file behind the link counts, and its checksum is compared, as scp sent it.
            assert (up["files_transferred"], up["bytes_transferred"]) == (2, 10), up
            assert up["checksum_match"] is True, up
            got = await client.call_tool("ssh_exec", {"target": TARGET, "command": f"cat {remote}/clean/sub/same"})
            assert structured(got)["stdout"] == "fine\n", structured(got)
            ok_result(await client.call_tool("ssh_exec", {"target": TARGET, "command": f"rm -rf {remote}"}))


async def test_a_download_writes_through_no_link_into_protected_files(harness, tmp_path):
    """rsync's `--keep-dirlinks` writes into the folder a link already in the destination leads
    to: after an earlier download left `dest/cfg -> ../../.ssh`, a second one with `-K` would put
    `cfg/authorized_keys` into `~/.ssh`. Each link to a folder where such a download lands is
    checked as a place it writes; a link to an allowed folder is fine."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    dest = home / "work" / "dest"
    dest.mkdir(parents=True)
    (dest / "cfg").symlink_to("../../.ssh")
    (home / "work" / "data").mkdir()
    policy_path(harness).unlink()  # the default policy, with this home
    remote = f"/tmp/policy-dirlinks-{os.getpid()}-{time.monotonic_ns()}"
    with anyio.fail_after(90):
        async with harness.client(HOME=str(home)) as client:
            ok_result(await client.call_tool("ssh_exec", {"target": TARGET, "command":
                f"mkdir -p {remote}/cfg && echo 'ssh-ed25519 AAAA attacker' > {remote}/cfg/authorized_keys"}))
            for extra in [["-K"], ["--keep-dirlinks"], ["-rK"]]:
                message = denied(await client.call_tool("ssh_sync", {
                    "target": TARGET, "direction": "download", "source": f"{remote}/",
                    "destination": str(dest), "extra_rsync_args": extra}))
                assert "write through the link" in message and "cfg" in message, (extra, message)
                assert not (home / ".ssh" / "authorized_keys").exists()
            # A link to a folder the rules allow passes the policy (rsync 3.5 itself then refuses
            # to write through any link, older ones go through it: either is rsync's to decide).
            (dest / "cfg").unlink()
            (dest / "cfg").symlink_to(home / "work" / "data")
            ok_result(await client.call_tool("ssh_sync", {
                "target": TARGET, "direction": "download", "source": f"{remote}/",
                "destination": str(dest), "extra_rsync_args": ["-K"]}))
            assert (dest / "cfg").is_symlink()
            assert not (home / ".ssh" / "authorized_keys").exists()
            ok_result(await client.call_tool("ssh_exec", {"target": TARGET, "command": f"rm -rf {remote}"}))


async def test_calls_on_a_session_are_judged_by_the_host_it_reaches(harness):
    """A session keeps the options it started with (`extra_ssh_args` may set `User` or
    `HostName`), and later calls on it are judged by every name of the host it reaches, not by
    the target as written: a rule written while it runs holds for it too. A stop is still
    allowed (a policy never keeps anything running)."""
    user = login_shell_account("dash")
    harness.sshd.authorize(user)
    write_policy(harness, WIDE_LOCAL)
    with anyio.fail_after(90):
        async with harness.client() as client:
            s = ok_result(await client.call_tool("ssh_start_session", {
                "target": TARGET, "extra_ssh_args": ["-o", f"User={user}"],
                "identity_file": str(harness.sshd.identity)}))
            sid = s["session_id"]
            w = ok_result(await client.call_tool("ssh_write_session", {
                "session_id": sid, "input": "id -un\n", "wait_seconds": 2}))
            assert user in w["output"], w
            # A rule for that account only: the target as written ("testhost") does not match it.
            # And identity files only under ~/.ssh again (the default), which this session's is
            # not: that refuses calls on it, but never its stop.
            write_policy(harness, f'[[target]]\nmatch = ["{user}@*"]\ndeny = true\n\n'
                                  '[local]\nread = ["/"]\nwrite = ["/"]\n')

            async def write_refused() -> bool:
                r = await client.call_tool("ssh_write_session", {
                    "session_id": sid, "input": "true\n", "wait_seconds": 0})
                return r.is_error and structured(r).get("error_type") == "policy_denied"

            await await_until(write_refused, 5, "the rule for the session's account in force")
            assert user in denied(await client.call_tool("ssh_read_session", {"session_id": sid}))
            ok_result(await client.call_tool("ssh_exec", {"target": TARGET, "command": "true"}))
            ok_result(await client.call_tool("ssh_stop_session", {"session_id": sid}))
