"""MCP Tasks (the io.modelcontextprotocol/tasks extension) on background jobs, through the shim's
stdio with a client that declares the extension: ssh_exec with background: true becomes a task
whose id is the job's, tasks/get follows it to a result shaped like ssh_exec's, tasks/cancel
stops it with nothing left running, and a client without the extension keeps the job result."""

from __future__ import annotations

import uuid

from mcptest import RawShim, base_env, procs_mentioning, wait_until

TASKS = {"extensions": {"io.modelcontextprotocol/tasks": {}}}


def exec_call(id_: int, command: str, **extra) -> dict:
    return {"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": {
        "name": "ssh_exec", "arguments": {"target": "testhost", "command": command, **extra}}}


def poll_until_terminal(shim: RawShim, task_id: str, first_id: int, timeout: float = 60) -> dict:
    """tasks/get until the task is no longer working; the last answer."""
    ids = iter(range(first_id, first_id + 100_000))

    def terminal():
        n = next(ids)
        shim.send({"jsonrpc": "2.0", "id": n, "method": "tasks/get", "params": {"taskId": task_id}})
        r = shim.response(n)
        assert "result" in r, r
        return r["result"] if r["result"]["status"] != "working" else None

    return wait_until(terminal, timeout, f"task {task_id} to leave working", interval=0.2)


def test_a_background_exec_is_a_task_followed_to_its_result(harness):
    shim = RawShim({**base_env(), **harness.env}, harness.dir / "raw-shim-tasks.err")
    try:
        init = shim.initialize(capabilities=TASKS)
        assert "io.modelcontextprotocol/tasks" in init["result"]["capabilities"].get("extensions", {}), init
        shim.send(exec_call(2, "sleep 1; printf 'out\\n'; printf 'err\\n' >&2; exit 3", background=True))
        created = shim.response(2)["result"]
        assert created["resultType"] == "task" and created["status"] == "working", created
        task_id = created["taskId"]
        assert task_id.startswith("job-"), created
        done = poll_until_terminal(shim, task_id, 10)
        assert done["status"] == "completed", done
        result = done["result"]["structuredContent"]
        assert (result["exit_code"], result["ok"]) == (3, False), result
        assert (result["stdout"], result["stderr"]) == ("out\n", "err\n"), result
        assert result["output_id"] == task_id and result["stdout_truncated"] is False, result
        # Asked again, the same answer (the job's files may have left the host by now).
        again = poll_until_terminal(shim, task_id, 100)
        assert again["result"] == done["result"], again
        # The handle tools work on the same job.
        shim.send({"jsonrpc": "2.0", "id": 200, "method": "tools/call", "params": {
            "name": "ssh_list_jobs", "arguments": {}}})
        jobs = shim.response(200)["result"]["structuredContent"]["jobs"]
        assert task_id in [j["job_id"] for j in jobs], jobs
    finally:
        shim.close()


def test_tasks_cancel_stops_the_job_on_the_host(harness):
    marker = f"SMCP_TASK_{uuid.uuid4().hex[:8]}"
    shim = RawShim({**base_env(), **harness.env}, harness.dir / "raw-shim-cancel.err")
    try:
        shim.initialize(capabilities=TASKS)
        shim.send(exec_call(2, "sleep 300", background=True, env={marker: "1"}))
        task_id = shim.response(2)["result"]["taskId"]
        wait_until(lambda: procs_mentioning(marker), 30, "the job's sleep on the host")
        shim.send({"jsonrpc": "2.0", "id": 3, "method": "tasks/cancel", "params": {"taskId": task_id}})
        ack = shim.response(3, timeout=30)
        assert "result" in ack, ack
        wait_until(lambda: not procs_mentioning(marker), 20, "the job's sleep to end")
        done = poll_until_terminal(shim, task_id, 10)
        assert done["status"] == "cancelled", done
    finally:
        shim.close()


def test_a_client_without_the_extension_gets_the_job_result(harness):
    shim = RawShim({**base_env(), **harness.env}, harness.dir / "raw-shim-notasks.err")
    try:
        shim.initialize()
        shim.send(exec_call(2, "true", background=True))
        r = shim.response(2)["result"]
        assert "taskId" not in r and r["structuredContent"]["job_id"].startswith("job-"), r
        shim.send({"jsonrpc": "2.0", "id": 3, "method": "tasks/get", "params": {"taskId": "job-x"}})
        refused = shim.response(3)
        assert "error" in refused, refused
    finally:
        shim.close()
