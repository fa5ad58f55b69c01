"""The Microsoft flavor's client RPCs, called by the real ``durabletask`` SDK client:
suspend/resume, terminate, purge, history, queries, restart, rewind, the reuse
policy, and the entity RPCs outlast does not support."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.grpc.conftest import DurableTaskApp, SdkError, Sidecar

TIMEOUT = 60


def _status(app: DurableTaskApp, iid: str) -> str:
    state = app.call("get_orchestration_state", iid)
    assert state is not None
    return str(state["runtime_status"])


def _done(app: DurableTaskApp, iid: str) -> dict[str, Any]:
    state = app.call("wait_for_orchestration_completion", iid, timeout=TIMEOUT)
    assert state is not None
    return dict(state)


def test_an_unknown_instance_reads_as_none(dt_app: DurableTaskApp) -> None:
    assert dt_app.call("get_orchestration_state", "nobody") is None


def test_suspend_and_resume_show_at_once(dt_app: DurableTaskApp) -> None:
    iid = dt_app.call("schedule_new_orchestration", "waiter")
    dt_app.call("wait_for_orchestration_start", iid, timeout=TIMEOUT)
    dt_app.call("suspend_orchestration", iid, reason="hold")
    assert _status(dt_app, iid) == "SUSPENDED"
    dt_app.call("raise_orchestration_event", iid, "tick")  # held while suspended
    dt_app.call("resume_orchestration", iid)
    assert _status(dt_app, iid) == "RUNNING"
    dt_app.call("raise_orchestration_event", iid, "done")
    assert _done(dt_app, iid)["serialized_output"] == "1"


def test_terminate_is_recursive(dt_sidecar: Sidecar, dt_app: DurableTaskApp) -> None:
    iid = dt_app.call("schedule_new_orchestration", "holder", instance_id="t-1")
    deadline = time.monotonic() + TIMEOUT
    while dt_app.call("wait_for_orchestration_start", "t-1-child", timeout=TIMEOUT) is None:
        assert time.monotonic() < deadline, "the child did not start"
        time.sleep(0.05)
    assert _status(dt_app, "t-1-child") == "RUNNING"
    dt_app.call("terminate_orchestration", iid, output="stop", recursive=True)
    state = _done(dt_app, iid)
    assert state["runtime_status"] == "TERMINATED"
    assert state["serialized_output"] == '"stop"'
    assert _done(dt_app, "t-1-child")["runtime_status"] == "TERMINATED"
    with pytest.raises(SdkError) as e:
        dt_app.call("terminate_orchestration", iid)
    assert e.value.code == "FAILED_PRECONDITION"


def test_purge_by_id_and_by_filter(dt_sidecar: Sidecar, dt_app: DurableTaskApp) -> None:
    ids = [
        dt_app.call("schedule_new_orchestration", "chain", instance_id=f"pg-{n}") for n in range(3)
    ]
    for iid in ids:
        _done(dt_app, iid)
    one = dt_app.call("purge_orchestration", "pg-0")
    assert one["deleted_instance_count"] == 1 and one["is_complete"] is True
    assert dt_app.call("get_orchestration_state", "pg-0") is None
    assert dt_app.call("purge_orchestration", "pg-0")["deleted_instance_count"] == 0
    rest = dt_app.call("purge_orchestrations_by", runtime_status=["COMPLETED"])
    assert rest["deleted_instance_count"] == 2
    assert dt_sidecar.runtime.client().get_workflow_state("pg-2") is None


def test_history_streams_the_whole_history(dt_app: DurableTaskApp) -> None:
    iid = dt_app.call("schedule_new_orchestration", "chain")
    _done(dt_app, iid)
    events = dt_app.call("get_orchestration_history", iid)
    kinds = [e["type"] for e in events]
    assert kinds[0] == "OrchestratorStartedEvent" and "ExecutionStartedEvent" in kinds
    assert kinds.count("TaskScheduledEvent") == 3 and kinds.count("TaskCompletedEvent") == 3
    assert kinds[-1] == "ExecutionCompletedEvent"
    with pytest.raises(SdkError) as e:
        dt_app.call("get_orchestration_history", "nobody")
    assert e.value.code == "NOT_FOUND"


def test_query_and_list_instance_ids(dt_app: DurableTaskApp) -> None:
    for n in range(3):
        _done(dt_app, dt_app.call("schedule_new_orchestration", "chain", instance_id=f"q-{n}"))
    running = dt_app.call("schedule_new_orchestration", "waiter", instance_id="q-w")
    dt_app.call("wait_for_orchestration_start", running, timeout=TIMEOUT)
    states = dt_app.call(
        "get_all_orchestration_states",
        orchestration_query={"instance_id_prefix": "q-", "fetch_inputs_and_outputs": True},
    )
    assert sorted(s["instance_id"] for s in states) == ["q-0", "q-1", "q-2", "q-w"]
    done = [s for s in states if s["runtime_status"] == "COMPLETED"]
    assert len(done) == 3 and all(s["serialized_output"] for s in done)
    only = dt_app.call(
        "get_all_orchestration_states", orchestration_query={"runtime_status": ["RUNNING"]}
    )
    assert [s["instance_id"] for s in only] == ["q-w"]
    # ListInstanceIds pages through the finished ones.
    first = dt_app.call("list_instance_ids", page_size=2)
    assert len(first["items"]) == 2 and first["continuation_token"]
    second = dt_app.call(
        "list_instance_ids", page_size=2, continuation_token=first["continuation_token"]
    )
    assert sorted(first["items"] + second["items"]) == ["q-0", "q-1", "q-2"]


def test_restart_runs_the_workflow_again(dt_app: DurableTaskApp) -> None:
    iid = dt_app.call("schedule_new_orchestration", "fan", input=4, instance_id="r-1")
    _done(dt_app, iid)
    again = dt_app.call("restart_orchestration", iid)
    assert again == "r-1"
    assert _done(dt_app, again)["serialized_output"] == "14"
    other = dt_app.call("restart_orchestration", iid, restart_with_new_instance_id=True)
    assert other != "r-1"
    state = _done(dt_app, other)
    assert state["serialized_input"] == "4" and state["serialized_output"] == "14"


def test_rewind_reruns_a_failed_instance_from_its_failed_activity(
    dt_sidecar: Sidecar, dt_app: DurableTaskApp
) -> None:
    iid = dt_app.call("schedule_new_orchestration", "rewindable", input="rw", instance_id="rw-1")
    assert _done(dt_app, iid)["runtime_status"] == "FAILED"
    dt_app.call("rewind_orchestration", iid, reason="fixed")
    state = _done(dt_app, iid)
    assert state["runtime_status"] == "COMPLETED", state["failure_details"]
    assert state["serialized_output"] == '["Hello rw!", "rw mended"]'
    with pytest.raises(SdkError) as e:
        dt_app.call("rewind_orchestration", iid)
    assert e.value.code == "FAILED_PRECONDITION" and "only a FAILED" in e.value.message


def test_reuse_policy_maps_onto_if_exists(dt_app: DurableTaskApp) -> None:
    iid = dt_app.call("schedule_new_orchestration", "waiter", instance_id="u-1")
    dt_app.call("wait_for_orchestration_start", iid, timeout=TIMEOUT)
    # No policy: an unfinished instance is not replaced.
    with pytest.raises(SdkError) as e:
        dt_app.call("schedule_new_orchestration", "waiter", instance_id="u-1")
    assert e.value.code == "ALREADY_EXISTS"
    # A policy that lists RUNNING: terminated and started afresh.
    dt_app.call(
        "schedule_new_orchestration", "chain", instance_id="u-1", reuse_statuses=["RUNNING"]
    )
    assert _done(dt_app, "u-1")["serialized_output"].startswith('["Hello Tokyo!"')
    # A policy that does not list COMPLETED keeps even a finished instance.
    with pytest.raises(SdkError) as e:
        dt_app.call(
            "schedule_new_orchestration", "chain", instance_id="u-1", reuse_statuses=["FAILED"]
        )
    assert e.value.code == "ALREADY_EXISTS"


def test_entities_are_refused_with_a_clear_message(dt_app: DurableTaskApp) -> None:
    with pytest.raises(SdkError) as e:
        dt_app.call("clean_entity_storage")
    assert e.value.code == "UNIMPLEMENTED" and "entities are not supported" in e.value.message
