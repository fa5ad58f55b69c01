"""``GET /metrics`` on a real server, after real runs: Prometheus text that the
official parser reads, with the runtime's counters and the store's gauges."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from outlast import WorkflowClient, WorkflowRuntime
from outlast.core.status import WorkflowStatus
from outlast.http import BackgroundServer, create_app
from outlast.store import open_store
from tests.http.sample_app import make_runtime


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_count_instances_turns_activities_and_commits(
    client: WorkflowClient, runtime: WorkflowRuntime, http: httpx.Client
) -> None:
    done = [
        client.schedule_new_workflow("OrderProcessingWorkflow", input={"n": n}) for n in range(3)
    ]
    for iid in done:
        client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
    client.schedule_new_workflow("approval", input="x")
    client.schedule_new_workflow("failing", input="bad")
    deadline = time.monotonic() + 30
    while client.count_workflows().counts.get(WorkflowStatus.FAILED, 0) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)

    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    got = _samples(response.text)
    assert got[("outlast_instances", (("status", "COMPLETED"),))] == 3
    assert got[("outlast_instances", (("status", "FAILED"),))] == 1
    assert got[("outlast_instances", (("status", "TERMINATED"),))] == 0
    # 3 orders: start + the result each; the approval's start; the failure
    assert got[("outlast_turns_total", ())] >= 8
    assert got[("outlast_commits_total", ())] >= 1
    assert got[("outlast_commit_turns_sum", ())] == got[("outlast_turns_total", ())]
    assert got[("outlast_commit_duration_seconds_count", ())] == got[("outlast_commits_total", ())]
    attempts = (("activity", "process_order"), ("outcome", "completed"))
    assert got[("outlast_activity_attempts_total", attempts)] == 3
    assert got[("outlast_activity_duration_seconds_count", (("activity", "process_order"),))] == 3
    assert got[("outlast_pending_activities", ())] == 0
    assert got[("outlast_runtime_running", ())] == 1


def test_queue_depth_and_the_oldest_waiting_message_without_a_runtime(store_url: str) -> None:
    # No worker takes the starts: they wait in the inbox, and their age grows.
    store = open_store(store_url)
    try:
        client = WorkflowClient(store)
        for n in range(4):
            client.schedule_new_workflow("OrderProcessingWorkflow", input=n)
        time.sleep(0.05)
        with BackgroundServer(create_app(client)) as server:
            text = httpx.get(f"{server.url}/metrics").text
    finally:
        store.close()
    got = _samples(text)
    assert got[("outlast_ready_messages", ())] == 4
    assert got[("outlast_oldest_ready_message_age_seconds", ())] >= 0.05
    assert got[("outlast_instances", (("status", "PENDING"),))] == 4
    assert ("outlast_turns_total", ()) not in got  # no runtime in this process


def test_a_failed_activity_attempt_is_counted_as_failed(store_url: str) -> None:
    runtime = make_runtime(store_url)

    def flaky(ctx: object) -> None:
        raise RuntimeError("no")

    def calls_flaky(ctx: object) -> object:
        yield ctx.call_activity(flaky)  # type: ignore[attr-defined]

    runtime.register_activity(flaky)
    runtime.register_workflow(calls_flaky)
    with runtime:
        client = runtime.client()
        iid = client.schedule_new_workflow(calls_flaky)
        client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
        with BackgroundServer(create_app(client, runtime=runtime)) as server:
            got = _samples(httpx.get(f"{server.url}/metrics").text)
    key = ("outlast_activity_attempts_total", (("activity", "flaky"), ("outcome", "failed")))
    assert got[key] == 1
