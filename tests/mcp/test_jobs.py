"""Background jobs (ssh_exec with background: true) through real MCP clients: read by another
client, surviving a daemon SIGKILL and a killed master, stopped with nothing left running,
listed, and their files on the host removed once read to the end."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import anyio
import pytest

from mcptest import await_until, children_of, ok_result, procs_mentioning, structured, wait_until

pytestmark = pytest.mark.anyio

TARGET = "testhost"
JOBS_DIR = Path.home() / ".cache" / "ssh-mcp" / "jobs"  # the test sshd logs in as this user


async def start_job(client, command: str, **extra) -> dict:
    r = ok_result(await client.call_tool(
        "ssh_exec", {"target": TARGET, "command": command, "background": True, **extra}))
    assert r["ok"] and r["job_id"].startswith("job-") and r["output_id"] == r["job_id"], r
    assert r["stdout"] == "" and "exit_code" not in r, r
    return r


async def read_to_end(client, job_id: str, stream: str = "stdout") -> tuple[str, dict]:
    """Reads a job's stream from this client's cursor to its end, waiting on the job."""
    data, last = "", None
    with anyio.fail_after(60):
        while True:
            p = ok_result(await client.call_tool(
                "ssh_read_output", {"output_id": job_id, "stream": stream, "wait_seconds": 5}))
            assert p["offset"] == len(data.encode()), (p, data)
            data += p["data"]
            last = p
            if p["eof"]:
                assert p["running"] is False, p
                return data, last


@pytest.fixture
def cleanup():
    """Removes the job directories a test leaves on the (local) host."""
    made: list[str] = []
    yield made
    for job in made:
        d = JOBS_DIR / job
        if d.exists():
            for f in d.iterdir():
                f.unlink()
            d.rmdir()


async def test_a_job_started_by_one_client_is_read_to_its_end_by_another(harness, cleanup):
    async with harness.client() as a:
        r = await start_job(a, "for i in 1 2 3; do echo line$i; sleep 0.3; done; echo err >&2; exit 7")
    job = r["job_id"]
    cleanup.append(job)
    assert r["duration_ms"] < 5000, r  # it returned at once, not after the job
    async with harness.client("auto") as b:
        listed = ok_result(await b.call_tool("ssh_list_jobs", {}))
        assert [j["job_id"] for j in listed["jobs"]] == [job] and listed["count"] == 1
        out, last = await read_to_end(b, job)
        assert out == "line1\nline2\nline3\n"
        assert last["exit_code"] == 7 and "signal" not in last
        err, _ = await read_to_end(b, job, "stderr")
        assert err == "err\n"
        # Ended and read to the end: its files on the host are gone, and it is listed as such.
        assert not (JOBS_DIR / job).exists()
        listed = ok_result(await b.call_tool("ssh_list_jobs", {"target": TARGET}))
        (j,) = listed["jobs"]
        assert (j["running"], j["exit_code"], j["stdout_bytes"]) == (False, 7, 18), j
        assert "removed" in j["note"], j
    people = harness.cli("jobs")
    assert people.returncode == 0 and job in people.stdout and "exit 7" in people.stdout, people


async def test_a_job_survives_a_daemon_sigkill(harness, cleanup):
    marker = f"smcpjob{uuid.uuid4().hex[:8]}"
    async with harness.client() as a:
        r = await start_job(a, f"sleep 2; echo {marker}; exit 3")
    cleanup.append(r["job_id"])
    old = harness.daemon_pid()
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: not Path(f"/proc/{old}").exists() or b"Z" in Path(f"/proc/{old}/stat").read_bytes().split()[2],
               10, "the daemon to die")
    async with harness.client() as b:
        out, last = await read_to_end(b, r["job_id"])
    assert harness.daemon_pid() != old
    assert out == f"{marker}\n" and last["exit_code"] == 3, (out, last)


async def test_a_job_survives_its_master_being_killed(harness, cleanup):
    async with harness.client() as a:
        r = await start_job(a, "sleep 2; echo still-here")
        cleanup.append(r["job_id"])
        masters = [p for p in children_of(harness.daemon_pid())
                   if b"ControlMaster" in Path(f"/proc/{p}/cmdline").read_bytes()
                   or b"-M" in Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")]
        assert masters, "no ControlMaster under the daemon"
        for m in masters:
            os.kill(m, signal.SIGKILL)
        out, last = await read_to_end(a, r["job_id"])
    assert out == "still-here\n" and last["exit_code"] == 0, (out, last)


async def test_a_stopped_job_leaves_no_process_on_the_host(harness, cleanup):
    marker = f"SMCP_JOB_{uuid.uuid4().hex[:8]}=1"
    async with harness.client() as a:
        r = await start_job(a, "trap '' TERM; sleep 300 & sleep 300; wait", env={marker.split("=")[0]: "1"})
        job = r["job_id"]
        cleanup.append(job)
        await await_until(lambda: len(procs_mentioning(marker.split("=")[0])) >= 2, 10, "the job's processes")
        stopped = ok_result(await a.call_tool("ssh_stop_job", {"job_id": job}))
        # It ignores SIGTERM: SIGKILL ended it after the grace.
        assert (stopped["running"], stopped["signal"]) == (False, 9), stopped
        left = procs_mentioning(marker.split("=")[0])
        assert not left, f"processes left on the host: {left}"
        out, last = await read_to_end(a, job)
        assert out == "" and last["signal"] == 9 and "exit_code" not in last, last
        again = ok_result(await a.call_tool("ssh_stop_job", {"job_id": job}))
        assert again["signal"] == 9  # stopping an ended job changes nothing


async def test_unknown_and_malformed_job_ids_are_clear_errors(harness):
    async with harness.client() as a:
        r = await a.call_tool("ssh_read_output", {"output_id": "job-0123456789abcdef"})
        e = structured(r)
        assert r.is_error and e["error_type"] == "not_found" and "no job" in e["message"], e
        r = await a.call_tool("ssh_stop_job", {"job_id": "job-0123456789abcdef"})
        assert r.is_error and structured(r)["error_type"] == "not_found"
        for bad in ["job-../../x", "job-1", "../job-0123456789abcdef"]:
            r = await a.call_tool("ssh_stop_job", {"job_id": bad})
            assert r.is_error and structured(r)["error_type"] == "validation_error", structured(r)
        r = await a.call_tool("ssh_read_output", {"output_id": "job-0123456789abcdef", "wait_seconds": 61})
        assert r.is_error and "wait_seconds" in structured(r)["message"]
