"""The Microsoft ``durabletask`` Python SDK, unchanged, runs the seed patterns against
outlast's Microsoft-flavor port (its worker and client: ``durabletask_app.py``)."""

from __future__ import annotations

from tests.grpc.conftest import DurableTaskApp, Sidecar

TIMEOUT = 60


def _done(app: DurableTaskApp, iid: str) -> dict:
    state = app.call("wait_for_orchestration_completion", iid, timeout=TIMEOUT)
    assert state is not None
    return state


def test_chaining_runs_through_the_durabletask_sdk(
    dt_sidecar: Sidecar, dt_app: DurableTaskApp
) -> None:
    iid = dt_app.call("schedule_new_orchestration", "chain", instance_id="chain-1")
    assert iid == "chain-1"
    state = _done(dt_app, iid)
    assert state["runtime_status"] == "COMPLETED", state["failure_details"]
    assert state["serialized_output"] == '["Hello Tokyo!", "Hello Seattle!", "Hello London!"]'
    # outlast's own client sees the instance like any other.
    ours = dt_sidecar.runtime.client().get_workflow_state("chain-1")
    assert ours is not None and ours.runtime_status.value == "COMPLETED"
    kinds = [e["kind"] for e in dt_sidecar.runtime.client().get_workflow_history("chain-1")]
    assert kinds.count("TaskScheduled") == 3 and kinds[-1] == "ExecutionCompleted"


def test_fan_out_fan_in_over_a_dynamic_batch(dt_app: DurableTaskApp) -> None:
    iid = dt_app.call("schedule_new_orchestration", "fan", input=20)
    state = _done(dt_app, iid)
    assert state["runtime_status"] == "COMPLETED", state["failure_details"]
    assert state["serialized_output"] == str(sum(i * i for i in range(20)))


def test_monitor_continues_as_new_with_a_fresh_history(
    dt_sidecar: Sidecar, dt_app: DurableTaskApp
) -> None:
    iid = dt_app.call("schedule_new_orchestration", "counter", input=0)
    state = _done(dt_app, iid)
    assert state["serialized_output"] == "3", state["failure_details"]
    assert state["serialized_custom_status"] == '"at 3"'
    kinds = [e["kind"] for e in dt_sidecar.runtime.client().get_workflow_history(iid)]
    assert kinds.count("ExecutionStarted") == 1


def test_external_event_and_its_timeout(dt_app: DurableTaskApp) -> None:
    iid = dt_app.call("schedule_new_orchestration", "approval", input=30)
    dt_app.call("wait_for_orchestration_start", iid, timeout=TIMEOUT)
    dt_app.call("raise_orchestration_event", iid, "approve", data="alice")
    assert _done(dt_app, iid)["serialized_output"] == '"approved by alice"'
    late = dt_app.call("schedule_new_orchestration", "approval", input=1)
    assert _done(dt_app, late)["serialized_output"] == '"timed out"'


def test_child_workflows_and_a_retry_policy(dt_sidecar: Sidecar, dt_app: DurableTaskApp) -> None:
    p = dt_app.call("schedule_new_orchestration", "parent", instance_id="p1")
    r = dt_app.call("schedule_new_orchestration", "retrying", input="k1")
    state = _done(dt_app, p)
    assert state["serialized_output"] == "[1, 2, 9]", state["failure_details"]
    # The children ran under the IDs the parent gave them, as instances of their own.
    child = dt_sidecar.runtime.client().get_workflow_state("p1-c2")
    assert child is not None and child.parent_instance_id == "p1"
    state = _done(dt_app, r)
    assert state["serialized_output"] == '"ok after 3"', state["failure_details"]
    kinds = [e["kind"] for e in dt_sidecar.runtime.client().get_workflow_history(r)]
    assert kinds.count("TaskFailed") == 2 and kinds.count("TimerFired") == 2
