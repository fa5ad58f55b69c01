"""Flow control in the runtime, on SQLite and in memory: limits declared with
``runtime.limit`` hold for every runtime on the store, calls carry their key and
priority, and bad declarations or calls get clear errors."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Generator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import outlast
from outlast.core import history as h
from outlast.core.codec import decode_event
from outlast.errors import InvalidStateError
from outlast.store import Store, open_store


class Meter:
    """How many activities run at once, at most, by key."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: dict[str | None, int] = {}
        self.most: dict[str | None, int] = {}
        self.order: list[str] = []

    def enter(self, key: str | None, label: str) -> None:
        with self.lock:
            for k in {key, "*"}:
                self.now[k] = self.now.get(k, 0) + 1
                self.most[k] = max(self.most.get(k, 0), self.now[k])
            self.order.append(label)

    def leave(self, key: str | None) -> None:
        with self.lock:
            for k in {key, "*"}:
                self.now[k] -= 1


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path}/flow.db" if request.param == "sqlite" else "memory://"
    opened = open_store(url)
    yield opened
    opened.close()


def build(store: Store, meter: Meter, **limit: Any) -> outlast.WorkflowRuntime:
    rt = outlast.WorkflowRuntime(store, poll_interval=0.05)

    @rt.activity
    def work(ctx: outlast.ActivityContext, item: dict[str, Any]) -> str:
        meter.enter(item.get("key"), str(item["label"]))
        time.sleep(item.get("seconds", 0.02))
        meter.leave(item.get("key"))
        return str(item["label"])

    @rt.workflow
    def fan(ctx: outlast.WorkflowContext, items: list[dict[str, Any]]) -> Generator[Any, Any, Any]:
        calls = [
            ctx.call_activity(work, input=i, key=i.get("key"), priority=i.get("priority", 0))
            for i in items
        ]
        return (yield outlast.when_all(calls))

    if limit:
        rt.limit(work, **limit)
    return rt


def run(rt: outlast.WorkflowRuntime, items: list[dict[str, Any]]) -> Any:
    client = rt.client()
    iid = client.schedule_new_workflow("fan", input=items)
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
    assert state is not None, iid
    assert state.runtime_status is outlast.WorkflowStatus.COMPLETED, state.failure_details
    return state.serialized_output


def test_a_concurrency_limit_is_shared_by_two_runtimes_on_one_store(store: Store) -> None:
    meter = Meter()
    first, second = build(store, meter, concurrency=3), build(store, meter, concurrency=3)
    first.start()
    second.start()
    try:
        client = first.client()
        items = [{"label": n, "seconds": 0.03} for n in range(12)]
        ids = [client.schedule_new_workflow("fan", input=items) for _ in range(3)]
        for iid in ids:
            state = client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
            assert state is not None and state.runtime_status is outlast.WorkflowStatus.COMPLETED
    finally:
        first.shutdown()
        second.shutdown()
    assert meter.most["*"] == 3
    assert len(meter.order) == 36


def test_per_key_limits_each_key(store: Store) -> None:
    meter = Meter()
    rt = build(store, meter, per_key=1)
    with_keys = [{"label": n, "key": f"k{n % 2}", "seconds": 0.03} for n in range(8)]
    rt.start()
    try:
        run(rt, [*with_keys, {"label": "free"}])
    finally:
        rt.shutdown()
    assert meter.most["k0"] == meter.most["k1"] == 1
    assert meter.most["*"] >= 2  # the keys ran side by side


def test_waiting_calls_run_by_priority_then_in_order(store: Store) -> None:
    meter = Meter()
    rt = build(store, meter, concurrency=1)
    priorities = [0, 5, 9, 5, 0, 9, 1]
    rt.start()
    try:
        out = run(rt, [{"label": n, "priority": p} for n, p in enumerate(priorities)])
    finally:
        rt.shutdown()
    assert out == '["0","1","2","3","4","5","6"]'  # results in call order, as always
    assert meter.order == ["2", "5", "1", "3", "6", "0", "4"]


def test_a_rate_spaces_the_starts(store: Store) -> None:
    meter = Meter()
    rt = build(store, meter, rate=outlast.Rate(3, per=timedelta(milliseconds=300)))
    starts: list[float] = []
    original = meter.enter

    def stamp(key: str | None, label: str) -> None:
        starts.append(time.monotonic())
        original(key, label)

    meter.enter = stamp  # type: ignore[method-assign]
    rt.start()
    try:
        run(rt, [{"label": n, "seconds": 0} for n in range(9)])
    finally:
        rt.shutdown()
    starts.sort()
    assert all(b - a >= 0.3 for a, b in zip(starts, starts[3:], strict=False))


def test_a_key_and_priority_without_a_limit_change_nothing(store: Store) -> None:
    meter = Meter()
    rt = build(store, meter)
    rt.start()
    try:
        assert run(rt, [{"label": "a", "key": "k", "priority": 9}]) == '["a"]'
    finally:
        rt.shutdown()


def test_a_queued_call_shows_as_waiting_on_its_limit(store: Store) -> None:
    gate = threading.Event()
    rt = outlast.WorkflowRuntime(store, poll_interval=0.05)

    @rt.activity
    def hold(ctx: outlast.ActivityContext, n: int) -> int:
        gate.wait(10)
        return n

    @rt.workflow
    def two(ctx: outlast.WorkflowContext) -> Generator[Any, Any, Any]:
        return (yield outlast.when_all([ctx.call_activity(hold, input=n, key="c") for n in (1, 2)]))

    rt.limit(hold, concurrency=1)
    rt.start()
    try:
        client = rt.client()
        iid = client.schedule_new_workflow(two)
        deadline = time.monotonic() + 10
        while len(client.get_pending_activities(iid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        running, queued = client.get_pending_activities(iid)
        assert running.worker is not None and not running.waiting_on_limit
        assert queued.worker is None and queued.waiting_on_limit and queued.key == "c"
        gate.set()
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
        assert state is not None and state.serialized_output == "[1,2]"
    finally:
        gate.set()
        rt.shutdown()


def test_bad_limits_and_calls_get_clear_errors(store: Store) -> None:
    rt = build(store, Meter())
    for bad, message in [
        ({}, "give concurrency, per_key or rate"),
        ({"concurrency": 0}, "concurrency must be at least 1"),
        ({"per_key": True}, "per_key must be at least 1"),
    ]:
        with pytest.raises(ValueError, match=message):
            rt.limit("work", **bad)
    with pytest.raises(ValueError, match="Rate count"):
        outlast.Rate(0, per=timedelta(seconds=1))
    with pytest.raises(ValueError, match="Rate per"):
        outlast.Rate(1, per=timedelta(0))
    rt.start()
    try:
        with pytest.raises(InvalidStateError, match="before the runtime starts"):
            rt.limit("work", concurrency=1)
        client = rt.client()
        iid = client.schedule_new_workflow("fan", input=[{"label": 1, "priority": 10}])
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
        assert state is not None and state.runtime_status is outlast.WorkflowStatus.FAILED
        assert state.failure_details is not None
        assert "priority must be 0..9" in state.failure_details.message
    finally:
        rt.shutdown()


def build_jobs(store: Store, meter: Meter, **limit: Any) -> outlast.WorkflowRuntime:
    """A workflow ``job`` of two steps under ``limit``; ``meter`` counts jobs."""
    rt = outlast.WorkflowRuntime(store, poll_interval=0.05)

    @rt.activity
    def enter(ctx: outlast.ActivityContext, item: dict[str, Any]) -> None:
        meter.enter(item.get("key"), str(item["label"]))

    @rt.activity
    def leave(ctx: outlast.ActivityContext, item: dict[str, Any]) -> str:
        time.sleep(item.get("seconds", 0.02))
        meter.leave(item.get("key"))
        return str(item["label"])

    @rt.workflow
    def job(ctx: outlast.WorkflowContext, item: dict[str, Any]) -> Generator[Any, Any, Any]:
        yield ctx.call_activity(enter, input=item)
        return (yield ctx.call_activity(leave, input=item))

    rt.limit(job, **limit)
    return rt


def start_jobs(
    rt: outlast.WorkflowRuntime, items: list[dict[str, Any]]
) -> list[outlast.InstanceID[Any]]:
    client = rt.client()
    return [
        client.schedule_new_workflow(
            "job", input=i, key=i.get("key"), priority=i.get("priority", 0)
        )
        for i in items
    ]


def finish(rt: outlast.WorkflowRuntime, ids: list[outlast.InstanceID[Any]]) -> None:
    for iid in ids:
        state = rt.client().wait_for_workflow_completion(iid, timeout_in_seconds=30)
        assert state is not None and state.runtime_status is outlast.WorkflowStatus.COMPLETED


def test_a_workflow_limit_caps_running_instances_on_every_runtime(store: Store) -> None:
    meter = Meter()
    first = build_jobs(store, meter, concurrency=2, per_key=1)
    second = build_jobs(store, meter, concurrency=2, per_key=1)
    first.start()
    second.start()
    try:
        items = [{"label": n, "key": f"k{n % 3}", "seconds": 0.1} for n in range(12)]
        finish(first, start_jobs(first, items))
    finally:
        first.shutdown()
        second.shutdown()
    assert meter.most["*"] == 2
    assert all(meter.most[f"k{n}"] == 1 for n in range(3))
    assert sorted(meter.order, key=int) == [str(n) for n in range(12)]


def test_waiting_starts_go_by_priority_then_in_order(store: Store) -> None:
    meter = Meter()
    rt = build_jobs(store, meter, concurrency=1)
    priorities = [0, 4, 9, 4, 0, 9]
    # Scheduled before the runtime starts: every start waits in line together.
    ids = start_jobs(rt, [{"label": n, "priority": p} for n, p in enumerate(priorities)])
    rt.start()
    try:
        finish(rt, ids)
    finally:
        rt.shutdown()
    assert meter.order == ["2", "5", "1", "3", "0", "4"]


def test_a_waiting_start_shows_and_a_terminate_does_not_wait_in_line(store: Store) -> None:
    gate = threading.Event()
    rt = outlast.WorkflowRuntime(store, poll_interval=0.05)

    @rt.activity
    def hold(ctx: outlast.ActivityContext) -> None:
        gate.wait(10)

    @rt.workflow
    def job(ctx: outlast.WorkflowContext) -> Generator[Any, Any, Any]:
        yield ctx.call_activity(hold)

    rt.limit(job, concurrency=1)
    rt.start()
    try:
        client = rt.client()
        holder = client.schedule_new_workflow(job)
        client.wait_for_workflow_start(holder, timeout_in_seconds=10)
        waiting = client.schedule_new_workflow(job, key="c-1", priority=3)
        deadline = time.monotonic() + 10
        while not client.get_pending_activities(waiting) and time.monotonic() < deadline:
            time.sleep(0.02)
        [line] = client.get_pending_activities(waiting)
        assert (line.name, line.waiting_on_limit, line.key, line.priority) == (
            "job",
            True,
            "c-1",
            3,
        )
        state = client.get_workflow_state(waiting)
        assert state is not None and state.runtime_status is outlast.WorkflowStatus.PENDING
        client.terminate_workflow(waiting)
        ended = client.wait_for_workflow_completion(waiting, timeout_in_seconds=10)
        assert ended is not None and ended.runtime_status is outlast.WorkflowStatus.TERMINATED
        third = client.schedule_new_workflow(job)
        gate.set()
        finish(rt, [holder, third])  # the terminated one left no slot taken
        assert store.pending_activities(third) == []  # its slot went with it
    finally:
        gate.set()
        rt.shutdown()


def test_both_clients_put_the_key_and_priority_on_the_start(store: Store) -> None:
    rt = build_jobs(store, Meter(), concurrency=1)
    sync_id = rt.client().schedule_new_workflow("job", input={"label": 1}, key="a", priority=2)

    async def start() -> str:
        return await rt.async_client().schedule_new_workflow(
            "job", input={"label": 2}, key="b", priority=7
        )

    async_id = asyncio.run(start())
    starts = {m.instance_id: decode_event(m.event) for m in store.fetch_messages("w", 1e12, 10)}
    for iid, key, priority in [(sync_id, "a", 2), (async_id, "b", 7)]:
        event = starts[iid]
        assert isinstance(event, h.ExecutionStarted)
        assert (event.key, event.priority) == (key, priority)
    with pytest.raises(ValueError, match=r"priority must be 0\.\.9"):
        rt.client().schedule_new_workflow("job", input={}, priority=-1)
    with pytest.raises(TypeError, match="key must be a string"):
        rt.client().schedule_new_workflow("job", input={}, key=42)  # type: ignore[arg-type]
