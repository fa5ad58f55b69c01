"""The client's queries for operators and the dashboard: counts by status, ID
prefixes, children, pending activities, and purges by those filters."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from datetime import UTC, datetime
from typing import Any

import pytest

import outlast
from outlast import WorkflowStatus
from outlast.errors import InstanceNotFoundError
from tests.conftest import RuntimeFactory


def _register(rt: outlast.WorkflowRuntime, gate: threading.Event) -> None:
    @rt.activity
    def slow(ctx: outlast.ActivityContext, x: int) -> int:
        gate.wait(30)
        return x

    @rt.workflow
    def waits(ctx: outlast.WorkflowContext) -> Generator[Any, Any, Any]:
        return (yield ctx.wait_for_external_event("go"))

    @rt.workflow
    def quick(ctx: outlast.WorkflowContext, x: int) -> int:
        return x

    @rt.workflow
    def busy(ctx: outlast.WorkflowContext) -> Generator[Any, Any, Any]:
        return (yield outlast.when_all([ctx.call_activity(slow, input=n) for n in range(2)]))

    @rt.workflow
    def family(ctx: outlast.WorkflowContext) -> Generator[Any, Any, Any]:
        kids = [ctx.call_child_workflow(quick, input=n, instance_id=f"kid-{n}") for n in range(2)]
        return (yield outlast.when_all(kids))


@pytest.fixture
def client(make_runtime: RuntimeFactory, store_url: str) -> Generator[outlast.WorkflowClient]:
    gate = threading.Event()
    rt = make_runtime()
    _register(rt, gate)
    rt.start()
    yield outlast.WorkflowClient(store_url)
    gate.set()


def test_counts_by_status_follow_the_filters(client: outlast.WorkflowClient) -> None:
    for n in range(3):
        client.schedule_new_workflow("quick", input=n, instance_id=f"q-{n}")
    client.schedule_new_workflow("waits", instance_id="w-0")
    for n in range(3):
        client.wait_for_workflow_completion(f"q-{n}")
    client.wait_for_workflow_start("w-0")
    counts = client.count_workflows()
    assert counts.counts == {WorkflowStatus.COMPLETED: 3, WorkflowStatus.RUNNING: 1}
    assert counts.total == 4 and counts.exact
    assert client.count_workflows(name="waits").counts == {WorkflowStatus.RUNNING: 1}
    assert client.count_workflows(instance_id_prefix="q-").total == 3
    assert client.count_workflows(status="running").counts == {WorkflowStatus.RUNNING: 1}
    later = datetime(2100, 1, 1, tzinfo=UTC)
    assert client.count_workflows(created_after=later).counts == {}


def test_list_by_prefix_and_parent(client: outlast.WorkflowClient) -> None:
    client.schedule_new_workflow("family", instance_id="mum")
    client.wait_for_workflow_completion("mum")
    kids = client.list_workflows(parent_instance_id="mum")
    assert sorted(s.instance_id for s in kids) == ["kid-0", "kid-1"]
    assert all(s.parent_instance_id == "mum" for s in kids)
    assert [s.instance_id for s in client.list_workflows(instance_id_prefix="mu")] == ["mum"]
    with pytest.raises(ValueError, match="prefix"):
        client.list_workflows(instance_id_prefix="no spaces")


def test_pending_activities_name_the_worker(client: outlast.WorkflowClient) -> None:
    client.schedule_new_workflow("busy", instance_id="b")
    client.wait_for_workflow_start("b")
    deadline = time.monotonic() + 10
    pending = client.get_pending_activities("b")
    while len(pending) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
        pending = client.get_pending_activities("b")
    assert [(a.task_id, a.name) for a in pending] == [(0, "slow"), (1, "slow")]
    assert all(a.worker for a in pending)  # the local worker runs them
    with pytest.raises(InstanceNotFoundError):
        client.get_pending_activities("nobody")


def test_purge_by_prefix_leaves_the_rest(client: outlast.WorkflowClient) -> None:
    for iid in ("old-1", "old-2", "new-1"):
        client.schedule_new_workflow("quick", input=1, instance_id=iid)
        client.wait_for_workflow_completion(iid)
    assert client.purge_workflows(instance_id_prefix="old-") == 2
    assert [s.instance_id for s in client.list_workflows()] == ["new-1"]


def test_the_asyncio_client_has_the_same_queries(
    client: outlast.WorkflowClient, store_url: str
) -> None:
    import asyncio

    from outlast.aio import WorkflowClient as AsyncClient

    client.schedule_new_workflow("family", instance_id="mum")
    client.wait_for_workflow_completion("mum")

    async def ask() -> tuple[object, ...]:
        aio = AsyncClient(store_url)
        kids = await aio.list_workflows(parent_instance_id="mum")
        counts = await aio.count_workflows(instance_id_prefix="kid-")
        pending = await aio.get_pending_activities("mum")
        purged = await aio.purge_workflows(instance_id_prefix="kid-")
        return len(kids), counts.total, pending, purged

    assert asyncio.run(ask()) == (2, 2, [], 2)
