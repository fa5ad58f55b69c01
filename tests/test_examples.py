"""Every example runs, and does what the seed says it does."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

import outlast
import outlast.dapr as wf
from outlast.examples import (
    child_workflows,
    error_handling,
    fan_out_fan_in,
    human_interaction,
    monitor,
    order_processing,
    task_chaining,
    versioning,
)
from outlast.testing import FakeClock


def test_task_chaining(store_url: str) -> None:
    state = task_chaining.main(store_url)
    assert state is not None and state.output_as() == [43, 86, 84]


def test_task_chaining_compensates_and_reraises(store_url: str) -> None:
    rt = wf.WorkflowRuntime(store=store_url)
    task_chaining.register(rt)
    with rt:
        client = wf.DaprWorkflowClient(store=store_url)
        iid = client.schedule_new_workflow(task_chaining.task_chain_workflow, input="oops")
        state = client.wait_for_workflow_completion(iid)
    assert state is not None and state.runtime_status is wf.WorkflowStatus.FAILED
    kinds = [(e["kind"], e.get("name")) for e in client.get_workflow_history(iid)]
    assert ("TaskScheduled", "error_handler") in kinds


def test_fan_out_fan_in(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(fan_out_fan_in.time, "sleep", slept.append)
    state = fan_out_fan_in.main(store_url, batch_size=25)
    assert state is not None and state.output_as() == sum(2 * (i + 1) for i in range(25))
    # The patch is on the shared time module: the runtime's own sleep(0) GIL
    # yields land here too.
    assert [s for s in slept if s] == [5] * 25


def test_human_interaction_approve_and_auto(store_url: str) -> None:
    assert human_interaction.main(store_url) == ['"Auto-approved"', "\"Approved by 'Jane Doe'\""]


def test_human_interaction_times_out_after_24_hours(store_url: str) -> None:
    clock = FakeClock()
    rt = wf.WorkflowRuntime(store=store_url, clock=clock, poll_interval=0.05)
    human_interaction.register(rt)
    with rt:
        client = wf.DaprWorkflowClient(store=store_url, clock=clock)
        iid = client.schedule_new_workflow(
            workflow=human_interaction.purchase_order_workflow,
            input=human_interaction.Order(5000, "Server", 2),
        )
        _wait_for_timer(client, iid)
        clock.advance(timedelta(hours=24))
        state = client.wait_for_workflow_completion(iid)
    assert state is not None and state.output_as() == "Cancelled"


def _wait_for_timer(client: outlast.WorkflowClient, iid: str) -> None:
    deadline = time.monotonic() + 10
    while not any(e["kind"] == "TimerCreated" for e in client.get_workflow_history(iid)):
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_monitor_continues_as_new_and_alerts_once_per_change(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    statuses = ["healthy", "unhealthy", "unhealthy", "healthy", "unhealthy"]
    checks: list[str] = []
    alerts: list[str] = []

    def check_status(ctx: object, _: object) -> str:
        checks.append(statuses[len(checks)])
        return checks[-1]

    def send_alert(ctx: object, message: str) -> None:
        alerts.append(message)

    monkeypatch.setattr(monitor, "check_status", check_status)
    monkeypatch.setattr(monitor, "send_alert", send_alert)
    clock = FakeClock()
    rt = wf.WorkflowRuntime(store=store_url, clock=clock, poll_interval=0.05)
    monitor.register(rt)
    with rt:
        client = wf.DaprWorkflowClient(store=store_url, clock=clock)
        iid = client.schedule_new_workflow(
            workflow=monitor.status_monitor_workflow, input=monitor.JobStatus("job", True)
        )
        for generation in range(1, len(statuses) + 1):
            _wait(lambda n=generation: len(checks) == n and _sleeping(client, iid))  # type: ignore[misc]
            if generation < len(statuses):
                clock.advance(timedelta(seconds=60))
        _wait(lambda: len(alerts) == 2)
        state = client.get_workflow_state(iid)
        # Each generation starts from a fresh history: storage stays bounded (a
        # generation is at most three turns, each with its marker).
        assert len(client.get_workflow_history(iid)) <= 11
        client.terminate_workflow(iid)
        client.wait_for_workflow_completion(iid)
    assert alerts == ["Job 'job' is unhealthy!"] * 2
    assert state is not None and state.input_as() == {"job_id": "job", "is_healthy": True}


def _sleeping(client: outlast.WorkflowClient, iid: str) -> bool:
    kinds = [e["kind"] for e in client.get_workflow_history(iid)]
    return "TimerCreated" in kinds and "TimerFired" not in kinds


def _wait(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_error_handling_retries_then_compensates(store_url: str) -> None:
    ok, bad = error_handling.main(store_url)
    assert ok.output_as() == ["flight to Lisbon", "hotel in Lisbon", "car in Lisbon"]
    assert bad.runtime_status is wf.WorkflowStatus.FAILED
    assert bad.failure_details is not None
    assert "car in Oslo" in bad.failure_details.message


def test_order_processing_polls_to_completion(store_url: str) -> None:
    state = order_processing.main(store_url)
    assert state is not None and state.output_as() == {"Processed": True}


def test_child_workflows(store_url: str) -> None:
    good, bad = child_workflows.main(store_url)
    assert good == {
        "order": "A1",
        "shipped": True,
        "labels": ["lamp -> Oslo", "rug -> Bergen"],
    }
    assert bad["shipped"] is False and "no address" in bad["reason"]


def test_versioning_rerun_after_fix(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(versioning, "payment_service_up", False)
    status, steps = versioning.main(store_url)
    assert status == "FAILED"
    assert steps == ["reserved order-7", "receipt for order-7", "charged order-7"]


def test_app_registers_every_example() -> None:
    from outlast.examples import app

    assert "OrderProcessingWorkflow" in app.runtime.registry.workflows
    assert len(app.runtime.registry.workflows) == len(app.EXAMPLES) + 1  # + ship_package


@pytest.mark.parametrize("name", ["task_chaining", "human_interaction", "order_processing"])
def test_examples_run_as_scripts(name: str, tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", f"outlast.examples.{name}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "outlast.db").exists()  # the embedded default
