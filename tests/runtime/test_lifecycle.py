"""Children, continue-as-new over many generations, and lifecycle operations."""

from __future__ import annotations

import sqlite3
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

import outlast
from outlast import WorkflowStatus
from tests.conftest import RuntimeFactory
from tests.runtime.test_runtime import _wait_for


def _register_family(rt: outlast.WorkflowRuntime) -> None:
    @rt.workflow
    def sleeper(ctx: outlast.WorkflowContext) -> Generator[Any, Any, Any]:
        return (yield ctx.wait_for_external_event("wake"))

    @rt.workflow
    def parent(ctx: outlast.WorkflowContext) -> Generator[Any, Any, Any]:
        kids = [ctx.call_child_workflow(sleeper, instance_id=f"kid-{n}") for n in range(3)]
        return (yield outlast.when_all(kids))


def test_terminate_is_recursive_by_default(make_runtime: RuntimeFactory, store_url: str) -> None:
    rt = make_runtime()
    _register_family(rt)
    rt.start()
    client = outlast.WorkflowClient(store_url)
    client.schedule_new_workflow("parent", instance_id="dad")
    for n in range(3):
        client.wait_for_workflow_start(f"kid-{n}")
    client.terminate_workflow("dad", output="stop")
    for iid in ("dad", "kid-0", "kid-1", "kid-2"):
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
        assert state is not None and state.runtime_status is WorkflowStatus.TERMINATED, iid
    # Purge is recursive too.
    assert client.purge_workflow("dad") is True
    assert [s.instance_id for s in client.list_workflows()] == []


def test_terminate_non_recursive_leaves_children(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    rt = make_runtime()
    _register_family(rt)
    rt.start()
    client = outlast.WorkflowClient(store_url)
    client.schedule_new_workflow("parent", instance_id="dad")
    for n in range(3):
        _wait_for(lambda n=n: _status(client, f"kid-{n}") is WorkflowStatus.RUNNING)  # type: ignore[misc]
    client.terminate_workflow("dad", recursive=False)
    client.wait_for_workflow_completion("dad")
    assert client.get_workflow_state("kid-0").runtime_status is WorkflowStatus.RUNNING  # type: ignore[union-attr]
    with pytest.raises(outlast.InvalidStateError, match="kid-"):
        client.purge_workflow("dad")  # a child still runs: nothing is purged
    assert client.get_workflow_state("dad") is not None
    assert client.purge_workflow("dad", recursive=False) is True
    assert client.get_workflow_state("kid-0") is not None


def test_parent_fans_out_to_a_thousand_children(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    rt = make_runtime()

    @rt.workflow
    def square(ctx: outlast.WorkflowContext, n: int) -> int:
        return n * n

    @rt.workflow
    def fan(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, int]:
        results = yield outlast.when_all(
            [ctx.call_child_workflow(square, input=i) for i in range(n)]
        )
        return sum(results)

    rt.start()
    client = outlast.WorkflowClient(store_url)
    iid = client.schedule_new_workflow(fan, input=1000, instance_id="fan")
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=120)
    assert state is not None and state.output_as() == sum(i * i for i in range(1000))
    page = client.list_workflows(name="square", page_size=2000)
    assert len(page) == 1000 and all(s.parent_instance_id == "fan" for s in page)


def test_eternal_monitor_storage_stays_bounded(
    make_runtime: RuntimeFactory, store_url: str, tmp_path: Path
) -> None:
    rt = make_runtime()

    @rt.activity
    def probe(ctx: outlast.ActivityContext, n: int) -> int:
        return n + 1

    @rt.workflow
    def monitor(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, int]:
        n = yield ctx.call_activity(probe, input=n)
        if n >= 1000:
            return n
        ctx.continue_as_new(n)
        return n

    rt.start()
    client = outlast.WorkflowClient(store_url)
    iid = client.schedule_new_workflow(monitor, input=0)
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=120)
    assert state is not None and state.output_as() == 1000
    # Only the last generation: two turns, each with its marker.
    kinds = [e["kind"] for e in client.get_workflow_history(iid)]
    assert kinds == [
        "OrchestratorStarted",
        "ExecutionStarted",
        "TaskScheduled",
        "OrchestratorStarted",
        "TaskCompleted",
        "ExecutionCompleted",
    ]
    db = sqlite3.connect(tmp_path / "outlast.db")
    rows = {
        t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
        for t in ("history", "inbox", "activities", "instances")
    }
    db.close()
    assert rows == {"history": 6, "inbox": 0, "activities": 0, "instances": 1}


def test_continue_as_new_carries_unconsumed_events(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    rt = make_runtime()

    @rt.workflow
    def counter(ctx: outlast.WorkflowContext, seen: list[str]) -> Generator[Any, Any, Any]:
        item = yield ctx.wait_for_external_event("item")
        seen = [*seen, item]
        if len(seen) == 3:
            return seen
        ctx.continue_as_new(seen, save_events=True)
        return None

    rt.start()
    client = outlast.WorkflowClient(store_url)
    iid = client.schedule_new_workflow(counter, input=[])
    client.wait_for_workflow_start(iid)
    for item in ("a", "b", "c"):
        client.raise_workflow_event(iid, "item", data=item)
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
    assert state is not None and state.output_as() == ["a", "b", "c"]


def test_terminate_works_on_suspended_and_waiting(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    rt = make_runtime()

    @rt.workflow
    def waits(ctx: outlast.WorkflowContext) -> Generator[Any, Any, Any]:
        return (yield ctx.wait_for_external_event("never"))

    rt.start()
    client = outlast.WorkflowClient(store_url)
    a = client.schedule_new_workflow(waits)
    b = client.schedule_new_workflow(waits)
    client.wait_for_workflow_start(a)
    client.wait_for_workflow_start(b)
    client.pause_workflow(b)
    _wait_for(lambda: client.get_workflow_state(b).runtime_status is WorkflowStatus.SUSPENDED)  # type: ignore[union-attr]
    for iid in (a, b):
        client.terminate_workflow(iid)
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
        assert state is not None and state.runtime_status is WorkflowStatus.TERMINATED


def test_per_name_activity_limit_throttles_a_fan_out(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    import threading
    import time

    rt = make_runtime(max_concurrent_activities=16, activity_limits={"process_item": 2})
    lock = threading.Lock()
    running = {"process_item": 0, "other": 0}
    peak = {"process_item": 0, "other": 0}

    def track(name: str) -> None:
        with lock:
            running[name] += 1
            peak[name] = max(peak[name], running[name])
        time.sleep(0.02)
        with lock:
            running[name] -= 1

    @rt.activity
    def process_item(ctx: outlast.ActivityContext, n: int) -> int:
        track("process_item")
        return n

    @rt.activity
    def other(ctx: outlast.ActivityContext, n: int) -> int:
        track("other")
        return n

    @rt.workflow
    def fan(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, int]:
        tasks = [ctx.call_activity(process_item, input=i) for i in range(n)]
        tasks += [ctx.call_activity(other, input=i) for i in range(n)]
        return sum((yield outlast.when_all(tasks)))

    rt.start()
    client = outlast.WorkflowClient(store_url)
    state = client.wait_for_workflow_completion(
        client.schedule_new_workflow(fan, input=20), timeout_in_seconds=30
    )
    assert state is not None and state.output_as() == 2 * sum(range(20))
    assert peak["process_item"] == 2
    assert peak["other"] > 2


def test_per_name_workflow_limit_keeps_the_rest_pending(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    rt = make_runtime(workflow_limits={"job": 2})

    @rt.workflow
    def job(ctx: outlast.WorkflowContext) -> Generator[Any, Any, Any]:
        return (yield ctx.wait_for_external_event("done"))

    rt.start()
    client = outlast.WorkflowClient(store_url)
    ids = [client.schedule_new_workflow(job, instance_id=f"job-{n}") for n in range(5)]

    def statuses() -> list[str]:
        return [client.get_workflow_state(i).runtime_status.value for i in ids]  # type: ignore[union-attr]

    _wait_for(lambda: statuses().count("RUNNING") == 2)
    import time

    time.sleep(0.2)
    assert statuses().count("RUNNING") == 2 and statuses().count("PENDING") == 3
    finished: set[str] = set()
    while len(finished) < 5:
        running = [i for i, s in zip(ids, statuses(), strict=True) if s == "RUNNING"]
        assert len(running) <= 2
        for iid in running:
            client.raise_workflow_event(iid, "done", data=iid)
            client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
            finished.add(iid)
        _wait_for(lambda: len(finished) == 5 or "RUNNING" in statuses())
    assert all(client.get_workflow_state(i).output_as() == i for i in ids)  # type: ignore[union-attr]


def test_retention_purges_old_finished_instances(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    from datetime import timedelta

    from outlast.testing import FakeClock

    clock = FakeClock()
    rt = make_runtime(clock=clock, retention={WorkflowStatus.COMPLETED: timedelta(days=1)})
    rt._options.retention_interval = 0.0  # check on every housekeeping round

    @rt.workflow
    def quick(ctx: outlast.WorkflowContext, fail: bool) -> int:
        if fail:
            raise ValueError("no")
        return 1

    rt.start()
    client = outlast.WorkflowClient(store_url, clock=clock)
    ok = client.schedule_new_workflow(quick, input=False)
    bad = client.schedule_new_workflow(quick, input=True)
    client.wait_for_workflow_completion(ok)
    client.wait_for_workflow_completion(bad)
    clock.advance(timedelta(hours=23))
    import time

    time.sleep(0.3)
    assert client.get_workflow_state(ok) is not None
    clock.advance(timedelta(hours=2))
    _wait_for(lambda: client.get_workflow_state(ok) is None)
    assert client.get_workflow_state(bad) is not None  # FAILED is kept: no rule for it


def test_retention_rejects_unfinished_statuses() -> None:
    from datetime import timedelta

    with pytest.raises(ValueError, match="RUNNING"):
        outlast.WorkflowRuntime("memory://", retention={"running": timedelta(days=1)})


def test_named_versions_running_instances_keep_theirs(store_url: str) -> None:
    def build(with_v2: bool) -> outlast.WorkflowRuntime:
        rt = outlast.WorkflowRuntime(store_url, poll_interval=0.05)

        @rt.workflow(name="checkout", version="1")
        def checkout_v1(ctx: outlast.WorkflowContext) -> Generator[Any, Any, str]:
            yield ctx.wait_for_external_event("pay")
            return f"v1 ({ctx.version})"

        if with_v2:

            @rt.workflow(name="checkout", version="2")
            def checkout_v2(ctx: outlast.WorkflowContext) -> Generator[Any, Any, str]:
                yield ctx.wait_for_external_event("pay")
                return f"v2 ({ctx.version})"

        return rt

    client = outlast.WorkflowClient(store_url)
    with build(with_v2=False):
        old = client.schedule_new_workflow("checkout")
        client.wait_for_workflow_start(old)
    with build(with_v2=True):
        new = client.schedule_new_workflow("checkout")
        client.wait_for_workflow_start(new)
        for iid in (old, new):
            client.raise_workflow_event(iid, "pay")
        assert client.wait_for_workflow_completion(old).output_as() == "v1 (1)"  # type: ignore[union-attr]
        assert client.wait_for_workflow_completion(new).output_as() == "v2 (2)"  # type: ignore[union-attr]


def _checkout_returning(value: str) -> Any:
    def checkout(ctx: outlast.WorkflowContext) -> Generator[Any, Any, str]:
        yield ctx.wait_for_external_event("pay")
        return value

    return checkout


def test_unregistered_version_stalls_until_a_runtime_has_it(store_url: str) -> None:
    def build(versions: list[str]) -> outlast.WorkflowRuntime:
        rt = outlast.WorkflowRuntime(store_url, poll_interval=0.05)
        for v in versions:
            rt.register_workflow(_checkout_returning(v), name="checkout", version=v)
        return rt

    client = outlast.WorkflowClient(store_url)
    with build(["1", "2"]):
        iid = client.schedule_new_workflow("checkout")
        client.wait_for_workflow_start(iid)
    with build(["1"]):  # a rollback that dropped version 2
        client.raise_workflow_event(iid, "pay")
        _wait_for(lambda: client.get_workflow_state(iid).runtime_status is WorkflowStatus.STALLED)  # type: ignore[union-attr]
        state = client.get_workflow_state(iid)
        assert state is not None and state.failure_details is not None
        assert "version '2'" in state.failure_details.message
    with build(["1", "2"]):
        assert client.wait_for_workflow_completion(iid).output_as() == "2"  # type: ignore[union-attr]


def test_is_patched_through_the_runtime(store_url: str) -> None:
    calls: list[str] = []

    def build(patched: bool) -> outlast.WorkflowRuntime:
        rt = outlast.WorkflowRuntime(store_url, poll_interval=0.05)

        @rt.activity
        def step(ctx: outlast.ActivityContext, name: str) -> str:
            calls.append(name)
            return name

        @rt.workflow
        def flow(ctx: outlast.WorkflowContext) -> Generator[Any, Any, list[str]]:
            done = [(yield ctx.call_activity(step, input="a"))]
            if patched and ctx.is_patched("add-b"):
                done.append((yield ctx.call_activity(step, input="b")))
            yield ctx.wait_for_external_event("go")
            done.append((yield ctx.call_activity(step, input="c")))
            return done

        return rt

    client = outlast.WorkflowClient(store_url)
    with build(patched=False):
        old = client.schedule_new_workflow("flow")
        _wait_for(lambda: _completed(client, old) == 1)
    with build(patched=True):
        new = client.schedule_new_workflow("flow")
        _wait_for(lambda: _completed(client, new) == 2)
        for iid in (old, new):
            client.raise_workflow_event(iid, "go")
        assert client.wait_for_workflow_completion(old).output_as() == ["a", "c"]  # type: ignore[union-attr]
        assert client.wait_for_workflow_completion(new).output_as() == ["a", "b", "c"]  # type: ignore[union-attr]
    # The patch is recorded on the marker of the turn that took it.
    patches = [e.get("patches") for e in client.get_workflow_history(new)]
    assert ["add-b"] in patches


def _status(client: outlast.WorkflowClient, instance_id: str) -> WorkflowStatus | None:
    state = client.get_workflow_state(instance_id)
    return None if state is None else state.runtime_status


def _completed(client: outlast.WorkflowClient, instance_id: str) -> int:
    return [e["kind"] for e in client.get_workflow_history(instance_id)].count("TaskCompleted")


def test_rerun_from_an_activity_event(make_runtime: RuntimeFactory, store_url: str) -> None:
    rt = make_runtime()
    calls: list[str] = []
    broken = {"charge": True}

    @rt.activity
    def step(ctx: outlast.ActivityContext, name: str) -> str:
        calls.append(name)
        if broken.get(name):
            raise RuntimeError(f"{name} is down")
        return name.upper()

    @rt.workflow
    def order(ctx: outlast.WorkflowContext, who: str) -> Generator[Any, Any, list[str]]:
        done = []
        for name in ("reserve", "pack", "charge"):
            done.append((yield ctx.call_activity(step, input=name)))
        return [who, *done]

    rt.start()
    client = outlast.WorkflowClient(store_url)
    src = client.schedule_new_workflow(order, input="ann", instance_id="src")
    assert client.wait_for_workflow_completion(src).runtime_status is WorkflowStatus.FAILED  # type: ignore[union-attr]
    history = client.get_workflow_history(src)
    charge_id = next(
        n
        for n, e in enumerate(history)
        if e["kind"] == "TaskScheduled" and e["input"] == '"charge"'
    )
    broken["charge"] = False
    calls.clear()
    again = client.rerun_workflow_from_event(src, charge_id, new_instance_id="again")
    state = client.wait_for_workflow_completion(again)
    assert state is not None and state.output_as() == ["ann", "RESERVE", "PACK", "CHARGE"]
    assert calls == ["charge"]  # the steps before it were not run again
    kinds = [e["kind"] for e in client.get_workflow_history(again)]
    assert "ExecutionRerun" in kinds
    # With a new input, from the first activity.
    first = next(n for n, e in enumerate(history) if e["kind"] == "TaskScheduled")
    other = client.rerun_workflow_from_event(src, first, new_input="bob")
    assert client.wait_for_workflow_completion(other).output_as()[0] == "bob"  # type: ignore[union-attr,index]
    # Bad requests fail clearly.
    with pytest.raises(ValueError, match="OrchestratorStarted"):
        client.rerun_workflow_from_event(src, 0)
    with pytest.raises(ValueError, match="out of range"):
        client.rerun_workflow_from_event(src, 999)
    with pytest.raises(outlast.InstanceNotFoundError):
        client.rerun_workflow_from_event("nope", 1)


def test_rerun_from_the_middle_of_a_fan_out(make_runtime: RuntimeFactory, store_url: str) -> None:
    rt = make_runtime()

    @rt.activity
    def double(ctx: outlast.ActivityContext, n: int) -> int:
        return n * 2

    @rt.workflow
    def fan(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, int]:
        return sum((yield outlast.when_all([ctx.call_activity(double, input=i) for i in range(n)])))

    rt.start()
    client = outlast.WorkflowClient(store_url)
    src = client.schedule_new_workflow(fan, input=10)
    assert client.wait_for_workflow_completion(src).output_as() == 90  # type: ignore[union-attr]
    middle = [
        n for n, e in enumerate(client.get_workflow_history(src)) if e["kind"] == "TaskScheduled"
    ][5]
    again = client.rerun_workflow_from_event(src, middle)
    assert client.wait_for_workflow_completion(again).output_as() == 90  # type: ignore[union-attr]


def test_payload_limit_is_enforced_where_payloads_enter(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    rt = make_runtime(max_payload_bytes=1000)

    @rt.activity
    def big(ctx: outlast.ActivityContext) -> str:
        return "x" * 2000

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, list[str]]:
        errors = []
        try:
            yield ctx.call_activity(big)
        except outlast.TaskFailedError as e:
            errors.append(e.details.error_type)
        try:
            ctx.call_activity(big, input="y" * 2000)
        except outlast.PayloadTooLargeError:
            errors.append("input refused")
        yield ctx.wait_for_external_event("go")
        return errors

    rt.start()
    client = outlast.WorkflowClient(store_url, max_payload_bytes=1000)
    with pytest.raises(outlast.PayloadTooLargeError, match="1,000-byte limit"):
        client.schedule_new_workflow(wf, input="z" * 5000, instance_id="too-big")
    assert client.get_workflow_state("too-big") is None
    iid = client.schedule_new_workflow(wf)
    client.wait_for_workflow_start(iid)
    with pytest.raises(outlast.PayloadTooLargeError):
        client.raise_workflow_event(iid, "go", data="e" * 5000)
    client.raise_workflow_event(iid, "go")
    state = client.wait_for_workflow_completion(iid)
    assert state is not None
    assert state.output_as() == ["PayloadTooLargeError", "input refused"]
