"""``outlast wait`` as a person sees it (a spinner with the status, on a real
terminal) and as a script does (the status, then exit 4, on a timeout); asking
before a purge by filter."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
from pathlib import Path

import orjson

from outlast import WorkflowClient, WorkflowRuntime
from outlast.store import Store
from tests.cli.test_cli_misc import invoke, outlast_command


def run_in_terminal(args: list[str], cwd: Path, typed: bytes = b"") -> tuple[int, str]:
    """Run the console script with a pseudo-terminal as stdin, stdout and stderr;
    return its exit code and everything it wrote, escape codes stripped."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "200", "TERM": "xterm"}
    env.pop("OUTLAST_STORE", None)
    proc = subprocess.Popen(
        [*outlast_command(), *args], stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env
    )
    os.close(slave)
    if typed:
        os.write(master, typed)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 60)
            if not ready:
                break
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        code = proc.wait(timeout=60)
    text = b"".join(chunks).decode(errors="replace")
    return code, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def test_on_a_terminal_wait_shows_a_spinner_with_the_status(store_url: str, tmp_path: Path) -> None:
    # Nothing runs this store: the instance stays PENDING and the wait times out.
    WorkflowClient(store_url).schedule_new_workflow("approval", instance_id="slowpoke")
    code, screen = run_in_terminal(
        ["wait", "slowpoke", "--store", store_url, "--timeout", "2.5"], tmp_path
    )
    assert code == 4, screen
    assert "Waiting for slowpoke to finish: PENDING" in screen
    assert re.search(r"Status\s+PENDING", screen)  # where it got to
    assert "still PENDING after 2.5s" in screen


def test_without_a_terminal_a_timeout_prints_the_status_then_exits_4(
    store: Store, store_url: str
) -> None:
    WorkflowClient(store).schedule_new_workflow("approval", instance_id="late")
    code, out, err = invoke("wait", "late", "--store", store_url, "--timeout", "0.2", "--json")
    assert code == 4
    assert orjson.loads(out)["runtimeStatus"] == "PENDING"
    assert "still PENDING after 0.2s" in err
    code, out, err = invoke("start", "approval", "--store", store_url, "--wait", "--timeout", "0")
    assert code == 4 and "PENDING" in out


def test_negative_timeouts_are_refused(store: Store, store_url: str) -> None:
    for args in (["wait", "x"], ["start", "approval", "--wait"]):
        code, _, err = invoke(*args, "--store", store_url, "--timeout", "-1")
        assert code == 2 and "-1" in err


def test_a_purge_by_filter_asks_first_on_a_terminal(
    runtime: WorkflowRuntime, store_url: str, tmp_path: Path
) -> None:
    client = WorkflowClient(runtime.store)
    for iid in ("p1", "p2"):
        client.schedule_new_workflow("OrderProcessingWorkflow", input={}, instance_id=iid)
        client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
    args = ["purge", "--status", "COMPLETED", "--store", store_url]
    code, screen = run_in_terminal(args, tmp_path, typed=b"n\n")
    assert code == 1 and "Purge every finished instance (status COMPLETED)" in screen
    assert len(client.list_workflows()) == 2
    code, screen = run_in_terminal(args, tmp_path, typed=b"y\n")
    assert code == 0 and "Purged 2 instances." in screen
    assert len(client.list_workflows()) == 0
