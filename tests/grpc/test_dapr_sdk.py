"""The Dapr Python SDK, unchanged, runs the seed patterns against outlast's sidecar
(its workflows: ``dapr_app.py``, in a process of its own)."""

from __future__ import annotations

from typing import Any

import dapr.ext.workflow as wf

from tests.grpc.conftest import Sidecar

TIMEOUT = 60


def test_chaining_runs_through_the_dapr_sdk(
    sidecar: Sidecar, dapr_worker: None, dapr_client: Any
) -> None:
    iid = dapr_client.schedule_new_workflow(workflow="chain", instance_id="chain-1")
    state = dapr_client.wait_for_workflow_completion(iid, timeout_in_seconds=TIMEOUT)
    assert state is not None
    assert state.runtime_status == wf.WorkflowStatus.COMPLETED, state.failure_details
    assert state.serialized_output == '["Hello Tokyo!", "Hello Seattle!", "Hello London!"]'
    # outlast's own client sees the instance like any other.
    ours = sidecar.runtime.client().get_workflow_state("chain-1")
    assert ours is not None and ours.runtime_status.value == "COMPLETED"
    kinds = [e["kind"] for e in sidecar.runtime.client().get_workflow_history("chain-1")]
    assert kinds.count("TaskScheduled") == 3 and kinds[-1] == "ExecutionCompleted"


def test_fan_out_fan_in_over_a_dynamic_batch(dapr_worker: None, dapr_client: Any) -> None:
    iid = dapr_client.schedule_new_workflow(workflow="fan", input=20)
    state = dapr_client.wait_for_workflow_completion(iid, timeout_in_seconds=TIMEOUT)
    assert state.runtime_status == wf.WorkflowStatus.COMPLETED, state.failure_details
    assert state.serialized_output == str(sum(i * i for i in range(20)))


def test_external_event_and_its_timeout(dapr_worker: None, dapr_client: Any) -> None:
    iid = dapr_client.schedule_new_workflow(workflow="approval")
    dapr_client.wait_for_workflow_start(iid, timeout_in_seconds=TIMEOUT)
    dapr_client.raise_workflow_event(iid, "approve", data="alice")
    state = dapr_client.wait_for_workflow_completion(iid, timeout_in_seconds=TIMEOUT)
    assert state.serialized_output == '"approved by alice"', state.failure_details
    late = dapr_client.schedule_new_workflow(workflow="short_approval")
    state = dapr_client.wait_for_workflow_completion(late, timeout_in_seconds=TIMEOUT)
    assert state.serialized_output == '"timed out"', state.failure_details


def test_child_workflows_retries_and_continue_as_new(
    sidecar: Sidecar, dapr_worker: None, dapr_client: Any
) -> None:
    p = dapr_client.schedule_new_workflow(workflow="parent")
    r = dapr_client.schedule_new_workflow(workflow="retrying", input="k1")
    c = dapr_client.schedule_new_workflow(workflow="counter", input=0)
    state = dapr_client.wait_for_workflow_completion(p, timeout_in_seconds=TIMEOUT)
    assert state.serialized_output == "[1, 2, 9]", state.failure_details
    state = dapr_client.wait_for_workflow_completion(r, timeout_in_seconds=TIMEOUT)
    assert state.serialized_output == '"ok after 3"', state.failure_details
    state = dapr_client.wait_for_workflow_completion(c, timeout_in_seconds=TIMEOUT)
    assert state.serialized_output == "3", state.failure_details
    # Continue-as-new reset the history: one run's worth is left.
    kinds = [e["kind"] for e in sidecar.runtime.client().get_workflow_history(c)]
    assert kinds.count("ExecutionStarted") == 1
