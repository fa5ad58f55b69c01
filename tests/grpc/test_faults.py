"""Faults: the SDK worker process (Dapr's, then durabletask's) SIGKILLed in the middle
of a fan-out and started again; the workflow completes and activity results
committed before the kill are not run again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.grpc.conftest import DurableTaskApp, Sidecar, free_port, start_worker, wait_connected

COUNT = 24


def _completed_tasks(sidecar: Sidecar, iid: str) -> set[int]:
    history = sidecar.runtime.client().get_workflow_history(iid)
    scheduled = {e["task_id"]: e["input"] for e in history if e["kind"] == "TaskScheduled"}
    return {int(scheduled[e["task_id"]]) for e in history if e["kind"] == "TaskCompleted"}


def test_a_killed_sdk_worker_loses_nothing(
    sidecar: Sidecar, dapr_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = tmp_path / "runs.txt"
    runs.touch()
    monkeypatch.setenv("OUTLAST_TEST_RUNS", str(runs))
    worker = start_worker(sidecar)
    iid = dapr_client.schedule_new_workflow(workflow="slow_fan", input=COUNT)
    deadline = time.monotonic() + 60
    while len(_completed_tasks(sidecar, iid)) < 4:
        assert time.monotonic() < deadline, "no activity finished"
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    while sidecar.server.hub.connected:  # the server saw the stream drop
        assert time.monotonic() < deadline + 30, "the dropped stream stays open"
        time.sleep(0.05)
    done_before = _completed_tasks(sidecar, iid)
    assert len(done_before) < COUNT  # the kill came in the middle
    again = start_worker(sidecar)
    try:
        state = dapr_client.wait_for_workflow_completion(iid, timeout_in_seconds=120)
        assert state.serialized_output == str(sum(range(COUNT))), state.failure_details
    finally:
        again.terminate()
        again.wait(15)
    ran = [int(line) for line in runs.read_text().split()]
    assert set(ran) == set(range(COUNT))
    # What was committed before the kill never ran again.
    for n in done_before:
        assert ran.count(n) == 1, (n, ran)
    assert os.environ["OUTLAST_TEST_RUNS"] == str(runs)


def test_a_killed_server_loses_nothing(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``outlast serve`` SIGKILLed while an SDK worker runs a fan-out, and started
    again on the same port and store: the worker reconnects and the workflow
    completes."""
    import dapr.ext.workflow as wf

    from tests.http.test_serve import outlast_serve

    runs = tmp_path / "runs.txt"
    runs.touch()
    monkeypatch.setenv("OUTLAST_TEST_RUNS", str(runs))
    port = free_port()
    args = ["tests.grpc.serve_app:runtime", "--store", store_url, "--grpc-port", str(port)]
    root = Path(__file__).resolve().parents[2]
    worker = subprocess.Popen([sys.executable, "-m", "tests.grpc.dapr_app", str(port)], cwd=root)
    try:
        with outlast_serve(args, root) as (proc, _):
            client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(port))
            iid = client.schedule_new_workflow(workflow="slow_fan", input=COUNT)
            deadline = time.monotonic() + 60
            while len(runs.read_text().split()) < 4:
                assert time.monotonic() < deadline, "no activity ran"
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        with outlast_serve(args, root):
            client = wf.DaprWorkflowClient(host="127.0.0.1", port=str(port))
            state = client.wait_for_workflow_completion(iid, timeout_in_seconds=120)
            assert state.serialized_output == str(sum(range(COUNT))), state.failure_details
        assert worker.poll() is None  # it reconnected; it never died
    finally:
        worker.terminate()
        worker.wait(15)
    assert set(int(n) for n in runs.read_text().split()) == set(range(COUNT))


def test_a_killed_durabletask_worker_loses_nothing(
    dt_sidecar: Sidecar, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same through the Microsoft flavor's port and its SDK."""
    runs = tmp_path / "runs.txt"
    runs.touch()
    monkeypatch.setenv("OUTLAST_TEST_RUNS", str(runs))
    server = dt_sidecar.server
    app = DurableTaskApp(server.port)
    wait_connected(server, 0)
    iid = app.call("schedule_new_orchestration", "slow_fan", input=COUNT)
    deadline = time.monotonic() + 60
    while len(_completed_tasks(dt_sidecar, iid)) < 4:
        assert time.monotonic() < deadline, "no activity finished"
        time.sleep(0.05)
    app.proc.send_signal(signal.SIGKILL)
    app.close()
    while server.hub.connected:
        assert time.monotonic() < deadline + 30, "the dropped stream stays open"
        time.sleep(0.05)
    done_before = _completed_tasks(dt_sidecar, iid)
    assert len(done_before) < COUNT
    again = DurableTaskApp(server.port)
    try:
        state = again.call("wait_for_orchestration_completion", iid, timeout=120)
        assert state["serialized_output"] == str(sum(range(COUNT))), state["failure_details"]
    finally:
        again.close()
    ran = [int(line) for line in runs.read_text().split()]
    assert set(ran) == set(range(COUNT))
    for n in done_before:
        assert ran.count(n) == 1, (n, ran)
