"""The engine end to end through the public API, on real SQLite files."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import pydantic
import pytest

import outlast
from outlast import WorkflowStatus
from outlast.testing import FakeClock
from tests.conftest import RuntimeFactory


@dataclass
class Order:
    product: str
    quantity: int
    placed: datetime


class Point(NamedTuple):
    x: int
    y: int


class Invoice(pydantic.BaseModel):
    number: str
    total: float


def test_chain_runs_to_completion(make_runtime: RuntimeFactory, store_url: str) -> None:
    rt = make_runtime()

    @rt.activity
    def inc(ctx: outlast.ActivityContext, x: int) -> int:
        return x + 1

    @rt.workflow
    def chain(ctx: outlast.WorkflowContext, x: int) -> Generator[Any, Any, int]:
        for _ in range(5):
            x = yield ctx.call_activity(inc, input=x)
        return x

    rt.start()
    client = outlast.WorkflowClient(store_url)
    iid = client.schedule_new_workflow(chain, input=10)
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
    assert state is not None
    assert state.runtime_status is WorkflowStatus.COMPLETED
    assert state.output_as() == 15
    assert state.name == "chain" and state.serialized_input == "10"


def test_typed_payloads_arrive_as_their_types(make_runtime: RuntimeFactory, store_url: str) -> None:
    rt = make_runtime()
    seen: list[Any] = []

    @rt.activity
    def describe(ctx: outlast.ActivityContext, order: Order) -> Invoice:
        seen.append(order)
        return Invoice(number=f"INV-{order.quantity}", total=order.quantity * 2.5)

    @rt.activity
    def mirror(ctx: outlast.ActivityContext, p: Point) -> Point:
        seen.append(p)
        return Point(p.y, p.x)

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext, order: Order) -> Generator[Any, Any, dict[str, Any]]:
        seen.append(order)
        invoice = yield ctx.call_activity(describe, input=order)
        seen.append(invoice)
        point = yield ctx.call_activity(mirror, input=Point(1, 2))
        seen.append(point)
        return {"invoice": invoice, "point": point, "when": order.placed}

    rt.start()
    client = outlast.WorkflowClient(store_url)
    placed = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
    iid = client.schedule_new_workflow(wf, input=Order("pen", 4, placed))
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
    assert state is not None and state.runtime_status is WorkflowStatus.COMPLETED, state
    assert seen[0] == Order("pen", 4, placed)
    assert seen[1] == Order("pen", 4, placed)
    assert seen[2] == Invoice(number="INV-4", total=10.0)
    assert seen[3] == Point(1, 2)
    assert seen[4] == Point(2, 1) and isinstance(seen[4], Point)
    assert state.output_as() == {
        "invoice": {"number": "INV-4", "total": 10.0},
        "point": [2, 1],
        "when": "2026-05-01T12:30:00+00:00",
    }


def test_async_activities_run_concurrently(make_runtime: RuntimeFactory, store_url: str) -> None:
    rt = make_runtime(max_concurrent_activities=8)
    running = 0
    peak = 0

    @rt.activity
    async def slow(ctx: outlast.ActivityContext, x: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1
        return x * 2

    @rt.workflow
    def fan(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, int]:
        results = yield outlast.when_all([ctx.call_activity(slow, input=i) for i in range(n)])
        return sum(results)

    rt.start()
    client = outlast.WorkflowClient(store_url)
    state = client.wait_for_workflow_completion(
        client.schedule_new_workflow(fan, input=20), timeout_in_seconds=10
    )
    assert state is not None and state.output_as() == sum(i * 2 for i in range(20))
    assert 1 < peak <= 8


def test_activity_concurrency_limit_holds(make_runtime: RuntimeFactory, store_url: str) -> None:
    rt = make_runtime(max_concurrent_activities=3)
    lock = threading.Lock()
    running = 0
    peak = 0
    release = threading.Event()

    @rt.activity
    def work(ctx: outlast.ActivityContext, x: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        release.wait(0.05)
        with lock:
            running -= 1
        return x

    @rt.workflow
    def fan(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, int]:
        return sum((yield outlast.when_all([ctx.call_activity(work, input=i) for i in range(n)])))

    rt.start()
    client = outlast.WorkflowClient(store_url)
    state = client.wait_for_workflow_completion(
        client.schedule_new_workflow(fan, input=12), timeout_in_seconds=10
    )
    assert state is not None and state.output_as() == sum(range(12))
    assert peak == 3


def test_external_events_before_wait_are_kept_in_order(
    make_runtime: RuntimeFactory, store_url: str, clock: FakeClock
) -> None:
    rt = make_runtime(clock=clock)

    @rt.workflow
    def collector(ctx: outlast.WorkflowContext) -> Generator[Any, Any, list[Any]]:
        yield ctx.create_timer(timedelta(hours=1))
        first = yield ctx.wait_for_external_event("item")
        second = yield ctx.wait_for_external_event("ITEM")
        return [first, second]

    rt.start()
    client = outlast.WorkflowClient(store_url, clock=clock)
    iid = client.schedule_new_workflow(collector)
    client.wait_for_workflow_start(iid)
    client.raise_workflow_event(iid, "Item", data={"n": 1})
    client.raise_workflow_event(iid, "item", data={"n": 2})
    clock.advance(timedelta(hours=1))
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
    assert state is not None and state.output_as() == [{"n": 1}, {"n": 2}]


def test_twenty_four_hour_timer_fires_when_clock_advances(
    make_runtime: RuntimeFactory, store_url: str, clock: FakeClock
) -> None:
    rt = make_runtime(clock=clock)

    @rt.workflow
    def approval(ctx: outlast.WorkflowContext) -> Generator[Any, Any, str]:
        event = ctx.wait_for_external_event("approved")
        timer = ctx.create_timer(timedelta(hours=24))
        winner = yield outlast.when_any([event, timer])
        return "cancelled" if winner == timer else "approved"

    rt.start()
    client = outlast.WorkflowClient(store_url, clock=clock)
    iid = client.schedule_new_workflow(approval)
    client.wait_for_workflow_start(iid)
    clock.advance(timedelta(hours=23))
    assert client.get_workflow_state(iid).runtime_status is WorkflowStatus.RUNNING  # type: ignore[union-attr]
    clock.advance(timedelta(hours=1))
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
    assert state is not None and state.output_as() == "cancelled"


def test_durable_retry_with_backoff(
    make_runtime: RuntimeFactory, store_url: str, clock: FakeClock
) -> None:
    rt = make_runtime(clock=clock)
    calls: list[float] = []

    @rt.activity
    def flaky(ctx: outlast.ActivityContext) -> str:
        calls.append(clock.now())
        if len(calls) < 3:
            raise ConnectionError("try again")
        return "ok"

    policy = outlast.RetryPolicy(
        first_retry_interval=timedelta(minutes=1), max_number_of_attempts=5, backoff_coefficient=2
    )

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, str]:
        return (yield ctx.call_activity(flaky, retry_policy=policy))

    rt.start()
    client = outlast.WorkflowClient(store_url, clock=clock)
    iid = client.schedule_new_workflow(wf)
    for attempt, minutes in ((1, 1), (2, 2)):
        _wait_for(lambda n=attempt: len(calls) == n)  # type: ignore[misc]
        _wait_for(lambda: _pending_timer(client, iid))
        clock.advance(timedelta(minutes=minutes))
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
    assert state is not None and state.output_as() == "ok"
    assert [round(t - calls[0]) for t in calls] == [0, 60, 180]
    kinds = [e["kind"] for e in client.get_workflow_history(iid)]
    assert kinds.count("TaskFailed") == 2 and kinds.count("TimerFired") == 2


def _pending_timer(client: outlast.WorkflowClient, iid: str) -> bool:
    kinds = [e["kind"] for e in client.get_workflow_history(iid)]
    return kinds.count("TimerCreated") > kinds.count("TimerFired")


def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    done = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        done.wait(0.01)
    raise AssertionError("condition not met in time")


def test_activity_failure_reaches_workflow_with_details(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    rt = make_runtime()

    @rt.activity
    def explode(ctx: outlast.ActivityContext) -> None:
        raise ValueError("kaboom")

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, dict[str, Any]]:
        try:
            yield ctx.call_activity(explode)
        except outlast.TaskFailedError as e:
            return {"type": e.details.error_type, "message": e.details.message}
        return {}

    rt.start()
    client = outlast.WorkflowClient(store_url)
    state = client.wait_for_workflow_completion(client.schedule_new_workflow(wf))
    assert state is not None and state.output_as() == {"type": "ValueError", "message": "kaboom"}


def test_uncaught_failure_fails_instance(make_runtime: RuntimeFactory, store_url: str) -> None:
    rt = make_runtime()

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext) -> None:
        raise RuntimeError("broken input")

    rt.start()
    client = outlast.WorkflowClient(store_url)
    state = client.wait_for_workflow_completion(client.schedule_new_workflow(wf))
    assert state is not None and state.runtime_status is WorkflowStatus.FAILED
    assert state.failure_details is not None
    assert state.failure_details.error_type == "RuntimeError"
    assert state.failure_details.message == "broken input"
    assert "RuntimeError" in (state.failure_details.stack_trace or "")


def test_unserializable_activity_result_fails_only_that_activity(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    rt = make_runtime()

    @rt.activity
    def bad(ctx: outlast.ActivityContext) -> object:
        return object()

    @rt.activity
    def good(ctx: outlast.ActivityContext) -> int:
        return 7

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, list[Any]]:
        try:
            yield ctx.call_activity(bad)
        except outlast.TaskFailedError as e:
            error = e.details.error_type
        value = yield ctx.call_activity(good)
        return [error, value]

    rt.start()
    client = outlast.WorkflowClient(store_url)
    state = client.wait_for_workflow_completion(client.schedule_new_workflow(wf))
    assert state is not None and state.output_as() == ["SerializationError", 7]


def test_unserializable_input_is_rejected_before_anything_is_stored(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    rt = make_runtime()

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext, x: Any) -> Any:
        return x

    client = outlast.WorkflowClient(store_url)
    with pytest.raises(outlast.SerializationError, match="object"):
        client.schedule_new_workflow(wf, input=object(), instance_id="nope")
    assert client.get_workflow_state("nope") is None


def test_unknown_activity_fails_the_task(make_runtime: RuntimeFactory, store_url: str) -> None:
    rt = make_runtime()

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, str]:
        try:
            yield ctx.call_activity("no_such_activity")
        except outlast.TaskFailedError as e:
            return e.details.error_type
        return ""

    rt.start()
    client = outlast.WorkflowClient(store_url)
    state = client.wait_for_workflow_completion(client.schedule_new_workflow(wf))
    assert state is not None and state.output_as() == "UnknownActivityError"


def test_unknown_workflow_is_rejected_when_runtime_is_local(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    rt = make_runtime()
    rt.start()
    client = outlast.WorkflowClient(store_url)
    with pytest.raises(outlast.UnknownWorkflowError, match="missing_wf"):
        client.schedule_new_workflow("missing_wf")


def test_unknown_workflow_scheduled_from_elsewhere_stalls_with_reason(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    client = outlast.WorkflowClient(store_url)
    iid = client.schedule_new_workflow("later_wf", input=1)  # no runtime here yet
    rt = make_runtime()
    rt.start()
    _wait_for(lambda: client.get_workflow_state(iid).runtime_status is WorkflowStatus.STALLED)  # type: ignore[union-attr]
    state = client.get_workflow_state(iid)
    assert state is not None and state.failure_details is not None
    assert state.failure_details.error_type == "UnknownWorkflowError"
    assert "later_wf" in state.failure_details.message


def test_duplicate_instance_id(make_runtime: RuntimeFactory, store_url: str) -> None:
    rt = make_runtime()

    @rt.workflow
    def wait(ctx: outlast.WorkflowContext) -> Generator[Any, Any, Any]:
        return (yield ctx.wait_for_external_event("go"))

    rt.start()
    client = outlast.WorkflowClient(store_url)
    client.schedule_new_workflow(wait, instance_id="order-1")
    with pytest.raises(outlast.InstanceAlreadyExistsError, match="order-1"):
        client.schedule_new_workflow(wait, instance_id="order-1")
    client.raise_workflow_event("order-1", "go", data=1)
    assert client.wait_for_workflow_completion("order-1").output_as() == 1  # type: ignore[union-attr]
    # A finished instance's ID may be reused: the old run is replaced.
    client.schedule_new_workflow(wait, instance_id="order-1")
    client.raise_workflow_event("order-1", "go", data=2)
    assert client.wait_for_workflow_completion("order-1").output_as() == 2  # type: ignore[union-attr]


def test_invalid_instance_id_is_rejected(store_url: str) -> None:
    client = outlast.WorkflowClient(store_url)
    for bad in ("", "has space", "x" * 65, "semi;colon"):
        with pytest.raises(ValueError, match="invalid instance ID"):
            client.schedule_new_workflow("wf", instance_id=bad)


def test_operations_on_missing_or_finished_instances(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    rt = make_runtime()

    @rt.workflow
    def quick(ctx: outlast.WorkflowContext) -> int:
        return 1

    rt.start()
    client = outlast.WorkflowClient(store_url)
    for op in (
        lambda: client.raise_workflow_event("ghost", "e"),
        lambda: client.terminate_workflow("ghost"),
        lambda: client.pause_workflow("ghost"),
        lambda: client.resume_workflow("ghost"),
        lambda: client.get_workflow_history("ghost"),
    ):
        with pytest.raises(outlast.InstanceNotFoundError, match="ghost"):
            op()
    assert client.get_workflow_state("ghost") is None
    assert client.wait_for_workflow_completion("ghost") is None
    assert client.purge_workflow("ghost") is False
    iid = client.schedule_new_workflow(quick)
    client.wait_for_workflow_completion(iid)
    with pytest.raises(outlast.InvalidStateError, match="COMPLETED"):
        client.raise_workflow_event(iid, "late")
    with pytest.raises(outlast.InvalidStateError, match="COMPLETED"):
        client.terminate_workflow(iid)


def test_terminate_suspend_resume_purge(make_runtime: RuntimeFactory, store_url: str) -> None:
    rt = make_runtime()
    ran: list[int] = []

    @rt.activity
    def record(ctx: outlast.ActivityContext, n: int) -> int:
        ran.append(n)
        return n

    @rt.workflow
    def stepper(ctx: outlast.WorkflowContext) -> Generator[Any, Any, int]:
        total = 0
        for n in range(3):
            total += yield ctx.wait_for_external_event("next")
            yield ctx.call_activity(record, input=n)
        return total

    rt.start()
    client = outlast.WorkflowClient(store_url)
    iid = client.schedule_new_workflow(stepper)
    client.wait_for_workflow_start(iid)
    client.pause_workflow(iid)
    _wait_for(lambda: client.get_workflow_state(iid).runtime_status is WorkflowStatus.SUSPENDED)  # type: ignore[union-attr]
    client.raise_workflow_event(iid, "next", data=5)
    client.raise_workflow_event(iid, "next", data=6)
    threading.Event().wait(0.2)
    assert ran == []  # held while suspended
    client.resume_workflow(iid)
    _wait_for(lambda: ran == [0, 1])
    with pytest.raises(outlast.InvalidStateError, match="RUNNING"):
        client.purge_workflow(iid)
    client.terminate_workflow(iid, output={"why": "enough"})
    state = client.wait_for_workflow_completion(iid)
    assert state is not None and state.runtime_status is WorkflowStatus.TERMINATED
    assert state.output_as() == {"why": "enough"}
    assert client.purge_workflow(iid) is True
    assert client.get_workflow_state(iid) is None


def test_custom_status_and_history(make_runtime: RuntimeFactory, store_url: str) -> None:
    rt = make_runtime()

    @rt.activity
    def step(ctx: outlast.ActivityContext, x: int) -> int:
        return x

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, str]:
        ctx.set_custom_status({"stage": "one"})
        yield ctx.call_activity(step, input=1)
        ctx.set_custom_status({"stage": "two"})
        yield ctx.wait_for_external_event("finish")
        return "done"

    rt.start()
    client = outlast.WorkflowClient(store_url)
    iid = client.schedule_new_workflow(wf)
    _wait_for(lambda: client.get_workflow_state(iid).custom_status_as() == {"stage": "two"})  # type: ignore[union-attr]
    client.raise_workflow_event(iid, "finish")
    client.wait_for_workflow_completion(iid)
    history = client.get_workflow_history(iid)
    kinds = [e["kind"] for e in history]
    assert kinds == [
        "OrchestratorStarted",  # each turn begins with its marker
        "ExecutionStarted",
        "TaskScheduled",
        "OrchestratorStarted",
        "TaskCompleted",
        "TimerCreated",  # what the wait for "finish" waits for, recorded
        "OrchestratorStarted",
        "EventRaised",
        "ExecutionCompleted",
    ]
    assert history[2]["name"] == "step" and history[2]["task_id"] == 0
    assert history[4]["result"] == "1"
    assert history[5]["origin"] == "external_event" and history[5]["origin_name"] == "finish"
    datetime.fromisoformat(history[0]["timestamp"])


def test_child_workflows_return_and_fail(make_runtime: RuntimeFactory, store_url: str) -> None:
    rt = make_runtime()

    @rt.workflow
    def child(ctx: outlast.WorkflowContext, n: int) -> int:
        if n < 0:
            raise ValueError("negative")
        return n * 10

    @rt.workflow
    def parent(ctx: outlast.WorkflowContext) -> Generator[Any, Any, list[Any]]:
        a = yield ctx.call_child_workflow(child, input=4, instance_id="kid-a")
        try:
            yield ctx.call_child_workflow(child, input=-1)
        except outlast.TaskFailedError as e:
            return [a, e.details.error_type]
        return [a]

    rt.start()
    client = outlast.WorkflowClient(store_url)
    iid = client.schedule_new_workflow(parent, instance_id="mom")
    state = client.wait_for_workflow_completion(iid)
    assert state is not None and state.output_as() == [40, "ValueError"], state
    kid = client.get_workflow_state("kid-a")
    assert kid is not None and kid.parent_instance_id == "mom"
    assert client.get_workflow_state("mom-1").runtime_status is WorkflowStatus.FAILED  # type: ignore[union-attr]


def test_start_at_delays_the_start(
    make_runtime: RuntimeFactory, store_url: str, clock: FakeClock
) -> None:
    rt = make_runtime(clock=clock)

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext) -> str:
        return ctx.current_utc_datetime.isoformat()

    rt.start()
    client = outlast.WorkflowClient(store_url, clock=clock)
    later = clock.utcnow() + timedelta(days=2)
    iid = client.schedule_new_workflow(wf, start_at=later)
    threading.Event().wait(0.2)
    assert client.get_workflow_state(iid).runtime_status is WorkflowStatus.PENDING  # type: ignore[union-attr]
    clock.advance(timedelta(days=2))
    state = client.wait_for_workflow_completion(iid)
    assert state is not None and state.output_as() == later.isoformat()


def test_wait_times_out_clearly(make_runtime: RuntimeFactory, store_url: str) -> None:
    rt = make_runtime()

    @rt.workflow
    def forever(ctx: outlast.WorkflowContext) -> Generator[Any, Any, Any]:
        return (yield ctx.wait_for_external_event("never"))

    rt.start()
    client = outlast.WorkflowClient(store_url)
    iid = client.schedule_new_workflow(forever)
    with pytest.raises(outlast.TimeoutError, match="still RUNNING"):
        client.wait_for_workflow_completion(iid, timeout_in_seconds=0.3)
    with pytest.raises(TimeoutError):  # also the builtin
        client.wait_for_workflow_completion(iid, timeout_in_seconds=0.1)


def test_list_workflows_filters_and_pages(make_runtime: RuntimeFactory, store_url: str) -> None:
    rt = make_runtime()

    @rt.workflow
    def done(ctx: outlast.WorkflowContext) -> int:
        return 1

    @rt.workflow
    def waits(ctx: outlast.WorkflowContext) -> Generator[Any, Any, Any]:
        return (yield ctx.wait_for_external_event("x"))

    rt.start()
    client = outlast.WorkflowClient(store_url)
    finished = [client.schedule_new_workflow(done, instance_id=f"d{n}") for n in range(5)]
    waiting = [client.schedule_new_workflow(waits, instance_id=f"w{n}") for n in range(3)]
    for iid in finished:
        client.wait_for_workflow_completion(iid)
    for iid in waiting:
        client.wait_for_workflow_start(iid)
    page = client.list_workflows(status=WorkflowStatus.COMPLETED, page_size=2)
    seen = [s.instance_id for s in page]
    while page.continuation_token:
        page = client.list_workflows(
            status="completed", page_size=2, continuation_token=page.continuation_token
        )
        seen += [s.instance_id for s in page]
    assert seen == finished
    assert [s.instance_id for s in client.list_workflows(name="waits")] == waiting
    assert client.purge_workflows(status=WorkflowStatus.COMPLETED) == 5
    assert len(client.list_workflows()) == 3
    with pytest.raises(outlast.InvalidStateError):
        client.purge_workflows(status=WorkflowStatus.RUNNING)


def test_client_in_another_process(make_runtime: RuntimeFactory, store_url: str) -> None:
    import subprocess
    import sys

    rt = make_runtime()

    @rt.workflow
    def greet(ctx: outlast.WorkflowContext, name: str) -> Generator[Any, Any, str]:
        punct = yield ctx.wait_for_external_event("punct")
        return f"hello {name}{punct}"

    rt.start()
    script = (
        "import outlast, sys\n"
        f"c = outlast.WorkflowClient({store_url!r})\n"
        "iid = c.schedule_new_workflow('greet', input='world', instance_id='remote')\n"
        "c.wait_for_workflow_start(iid, timeout_in_seconds=10)\n"
        "c.raise_workflow_event(iid, 'punct', data='!')\n"
        "s = c.wait_for_workflow_completion(iid, timeout_in_seconds=10)\n"
        "print(s.serialized_output)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == '"hello world!"'


def _kinds(client: outlast.WorkflowClient, instance_id: str) -> list[str]:
    return [e["kind"] for e in client.get_workflow_history(instance_id)]


def _double_wait_double(store_url: str) -> outlast.WorkflowRuntime:
    """A runtime whose workflow "wf" doubles its input, waits for the event "more",
    and doubles the sum."""
    rt = outlast.WorkflowRuntime(store_url, poll_interval=0.05)

    @rt.activity
    def double(ctx: outlast.ActivityContext, x: int) -> int:
        return x * 2

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext, x: int) -> Generator[Any, Any, int]:
        y = yield ctx.call_activity(double, input=x)
        z = yield ctx.wait_for_external_event("more")
        return int((yield ctx.call_activity(double, input=y + z)))

    return rt


def test_runtime_restart_resumes_waiting_instance(store_url: str) -> None:
    def build() -> outlast.WorkflowRuntime:
        return _double_wait_double(store_url)

    client = outlast.WorkflowClient(store_url)
    with build():
        iid = client.schedule_new_workflow("wf", input=3)
        _wait_for(lambda: "TaskCompleted" in _kinds(client, iid))  # now waiting for "more"
    client.raise_workflow_event(iid, "more", data=1)  # while nothing runs
    with build():
        state = client.wait_for_workflow_completion(iid)
    assert state is not None and state.output_as() == 14


def test_runtime_lifecycle_errors(store_url: str) -> None:
    rt = outlast.WorkflowRuntime(store_url)
    rt.start()
    with pytest.raises(outlast.InvalidStateError):
        rt.start()
    rt.shutdown()
    rt.shutdown()  # idempotent
    with pytest.raises(ValueError):
        outlast.WorkflowRuntime(store_url, max_concurrent_activities=0)


def test_registration_conflicts() -> None:
    rt = outlast.WorkflowRuntime("memory://")

    def one(ctx: outlast.WorkflowContext) -> None: ...

    def two(ctx: outlast.WorkflowContext) -> None: ...

    rt.register_workflow(one, name="same")
    rt.register_workflow(one, name="same")  # the same function again is fine
    with pytest.raises(outlast.RegistrationError, match="same"):
        rt.register_workflow(two, name="same")


def _versioned_runtime(store_url: str, second_step: str) -> outlast.WorkflowRuntime:
    rt = outlast.WorkflowRuntime(store_url, poll_interval=0.05)

    @rt.activity
    def reserve(ctx: outlast.ActivityContext) -> str:
        return "reserved"

    @rt.activity
    def charge(ctx: outlast.ActivityContext) -> str:
        return "charged"

    @rt.workflow
    def order(ctx: outlast.WorkflowContext) -> Generator[Any, Any, list[str]]:
        first = yield ctx.call_activity(reserve)
        yield ctx.wait_for_external_event("go")
        second = yield ctx.call_activity(second_step)
        yield ctx.wait_for_external_event("go")
        third = yield ctx.call_activity("charge")
        return [first, second, third]

    return rt


def _run_until_second_wait(client: outlast.WorkflowClient, store_url: str) -> str:
    with _versioned_runtime(store_url, "reserve"):
        iid = client.schedule_new_workflow("order")
        client.raise_workflow_event(iid, "go")
        # Reserve completed twice (once before "go", once after): at the second wait.
        _wait_for(lambda: _kinds(client, iid).count("TaskCompleted") == 2)
    return iid


def test_changed_code_stalls_keeps_history_and_recovers(store_url: str) -> None:
    client = outlast.WorkflowClient(store_url)
    iid = _run_until_second_wait(client, store_url)
    history_before = client.get_workflow_history(iid)
    # A deploy changes what the workflow does at step 2 while instances are mid-way.
    with _versioned_runtime(store_url, "charge"):
        client.raise_workflow_event(iid, "go")  # any new event makes it replay
        _wait_for(lambda: client.get_workflow_state(iid).runtime_status is WorkflowStatus.STALLED)  # type: ignore[union-attr]
    state = client.get_workflow_state(iid)
    assert state is not None and state.failure_details is not None
    assert state.failure_details.error_type == "NonDeterminismError"
    assert re.search(r"^step \d+:", state.failure_details.message)
    assert "'reserve'" in state.failure_details.message
    assert "'charge'" in state.failure_details.message
    assert client.get_workflow_history(iid) == history_before
    # The fixed code goes out: the instance is revived and finishes.
    with _versioned_runtime(store_url, "reserve"):
        state = client.wait_for_workflow_completion(iid)
    assert state is not None and state.output_as() == ["reserved", "reserved", "charged"]


def test_stalled_instance_can_be_terminated(store_url: str) -> None:
    client = outlast.WorkflowClient(store_url)
    iid = _run_until_second_wait(client, store_url)
    with _versioned_runtime(store_url, "charge"):
        client.raise_workflow_event(iid, "go")
        _wait_for(lambda: client.get_workflow_state(iid).runtime_status is WorkflowStatus.STALLED)  # type: ignore[union-attr]
        client.terminate_workflow(iid, output="given up")
        state = client.wait_for_workflow_completion(iid)
    assert state is not None and state.runtime_status is WorkflowStatus.TERMINATED
    assert state.output_as() == "given up"


def test_a_failed_commit_loses_no_activity_result() -> None:
    from outlast.store import MemoryStore
    from outlast.store.base import CommitBatch

    class FlakyStore(MemoryStore):
        failures = 2

        def commit(self, batch: CommitBatch) -> set[str]:
            if batch.finished_activities and self.failures:
                self.failures -= 1
                raise outlast.StoreError("disk full (simulated)")
            return super().commit(batch)

    store = FlakyStore()
    rt = outlast.WorkflowRuntime(store, poll_interval=0.02)
    runs: list[int] = []

    @rt.activity
    def once(ctx: outlast.ActivityContext, x: int) -> int:
        runs.append(x)
        return x + 1

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext, x: int) -> Generator[Any, Any, int]:
        return int((yield ctx.call_activity(once, input=x)))

    with rt:
        client = outlast.WorkflowClient(store)
        state = client.wait_for_workflow_completion(client.schedule_new_workflow(wf, input=1))
    assert state is not None and state.output_as() == 2
    assert store.failures == 0 and runs == [1]  # retried from memory, not re-run


def test_runtime_client_shares_store_clock_and_limits(store_url: str) -> None:
    from outlast.testing import FakeClock

    clock = FakeClock()
    rt = outlast.WorkflowRuntime(store_url, clock=clock, max_payload_bytes=100)
    client = rt.client()
    assert client.store is rt.store
    with pytest.raises(outlast.PayloadTooLargeError):
        client.schedule_new_workflow("anything", input="x" * 200)


def test_a_round_of_many_cold_instances_reads_them_in_chunks(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def build() -> outlast.WorkflowRuntime:
        return _double_wait_double(store_url)

    client = outlast.WorkflowClient(store_url)
    n = 250
    with build():
        ids = [client.schedule_new_workflow("wf", input=i) for i in range(n)]
        _wait_for(lambda: all("TaskCompleted" in _kinds(client, i) for i in ids))
    for iid in ids:  # while nothing runs: the next runtime meets them all at once
        client.raise_workflow_event(iid, "more", data=1)
    store = client.store
    reads: list[int] = []
    real = store.load_instances
    monkeypatch.setattr(
        store, "load_instances", lambda chunk: reads.append(len(chunk)) or real(chunk)
    )
    with build():
        states = [client.wait_for_workflow_completion(i) for i in ids]
    assert [s.output_as() for s in states if s is not None] == [2 * (2 * i + 1) for i in range(n)]
    assert sum(reads) == n and max(reads) <= 100 and len(reads) >= 3


def test_activities_of_a_commit_taken_for_failed_still_run(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit that went through but reported failure (a connection lost after
    the server committed) leaves activities stored as this worker's that it never
    started; the worker finds and starts them."""
    rt = outlast.WorkflowRuntime(store_url, poll_interval=0.05, lease_seconds=1.0)

    @rt.activity
    def step(ctx: outlast.ActivityContext, x: int) -> int:
        return x + 1

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext, x: int) -> Generator[Any, Any, int]:
        for _ in range(3):
            x = yield ctx.call_activity(step, input=x)
        return x

    client = outlast.WorkflowClient(store_url)
    store = client.store
    real = store.commit
    lost: list[int] = []

    def commit_then_lose_the_answer(batch: Any) -> set[str]:
        rejected = real(batch)
        if not lost and any(t.activities for t in batch.turns):
            lost.append(1)
            raise outlast.errors.StoreError("connection lost while committing")
        return rejected

    monkeypatch.setattr(store, "commit", commit_then_lose_the_answer)
    with rt:
        iid = client.schedule_new_workflow("wf", input=0)
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
    assert lost and state is not None and state.output_as() == 3


def test_if_exists_chooses_what_a_start_with_a_taken_id_does(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    rt = make_runtime()

    @rt.workflow
    def wait(ctx: outlast.WorkflowContext, tag: str) -> Generator[Any, Any, Any]:
        got = yield ctx.wait_for_external_event("go")
        return [tag, got]

    rt.start()
    client = outlast.WorkflowClient(store_url)
    client.schedule_new_workflow(wait, input="first", instance_id="order-1")
    client.wait_for_workflow_start("order-1", timeout_in_seconds=10)
    with pytest.raises(outlast.InstanceAlreadyExistsError):
        client.schedule_new_workflow(wait, input="second", instance_id="order-1", if_exists="error")
    same = client.schedule_new_workflow(
        wait, input="second", instance_id="order-1", if_exists="return_existing"
    )
    assert same == "order-1"
    state = client.get_workflow_state("order-1")
    assert state is not None and state.input_as() == "first"  # nothing was started
    client.schedule_new_workflow(
        wait, input="third", instance_id="order-1", if_exists="terminate_and_restart"
    )
    client.wait_for_workflow_start("order-1", timeout_in_seconds=10)
    client.raise_workflow_event("order-1", "go", data=1)
    done = client.wait_for_workflow_completion("order-1", timeout_in_seconds=10)
    assert done is not None and done.output_as() == ["third", 1]
    with pytest.raises(ValueError, match="if_exists"):
        client.schedule_new_workflow(wait, input="x", instance_id="o2", if_exists="replace")  # type: ignore[call-overload]
