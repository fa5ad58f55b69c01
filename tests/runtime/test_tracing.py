"""OpenTelemetry spans from real runs, read back with the SDK's in-memory exporter:
one per workflow run and per activity attempt, parent -> child, in the starter's
trace, across a restart too."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Generator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import outlast
from outlast import RetryPolicy, WorkflowStatus
from outlast.core import history as h
from outlast.core.codec import decode_event
from tests.conftest import RuntimeFactory
from tests.runtime.test_runtime import _wait_for


class Traced:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def spans(self, prefix: str = "") -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.name.startswith(prefix)]

    def one(self, name: str) -> ReadableSpan:
        (span,) = self.spans(name)
        return span


@pytest.fixture
def traced() -> Iterator[Traced]:
    t = Traced()
    yield t
    t.provider.shutdown()


def _register(rt: outlast.WorkflowRuntime) -> None:
    calls = {"n": 0}

    @rt.activity
    def reserve(ctx: outlast.ActivityContext, item: str) -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            raise TimeoutError("warehouse slow")
        return f"reserved {item}"

    @rt.workflow
    def stock(ctx: outlast.WorkflowContext, item: str) -> Generator[Any, Any, Any]:
        policy = RetryPolicy(
            first_retry_interval=timedelta(milliseconds=1), max_number_of_attempts=3
        )
        return (yield ctx.call_activity(reserve, input=item, retry_policy=policy))

    @rt.workflow
    def order(ctx: outlast.WorkflowContext, item: str) -> Generator[Any, Any, Any]:
        return (yield ctx.call_child_workflow(stock, input=item, instance_id="o-1-stock"))


def test_runs_and_attempts_are_spans_under_the_starter(
    make_runtime: RuntimeFactory, traced: Traced
) -> None:
    rt = make_runtime(tracer_provider=traced.provider)
    _register(rt)
    rt.start()
    client = rt.client()
    with traced.provider.get_tracer("test").start_as_current_span("checkout") as request:
        client.schedule_new_workflow("order", input="lamp", instance_id="o-1")
    state = client.wait_for_workflow_completion("o-1", timeout_in_seconds=10)
    assert state is not None and state.runtime_status is WorkflowStatus.COMPLETED
    _wait_for(lambda: len(traced.spans("workflow order")) == 1)

    trace_id = request.get_span_context().trace_id
    parent_run = traced.one("workflow order")
    child_run = traced.one("workflow stock")
    attempts = sorted(
        traced.spans("activity reserve"), key=lambda s: s.attributes["outlast.attempt"]
    )  # type: ignore[index]
    assert all(s.context.trace_id == trace_id for s in [parent_run, child_run, *attempts])
    assert parent_run.parent is not None
    assert parent_run.parent.span_id == request.get_span_context().span_id
    assert child_run.parent is not None and child_run.parent.span_id == parent_run.context.span_id
    assert [a.parent.span_id for a in attempts if a.parent] == [child_run.context.span_id] * 2
    assert parent_run.attributes is not None
    assert parent_run.attributes["outlast.instance_id"] == "o-1"
    assert parent_run.attributes["outlast.status"] == "COMPLETED"
    # The failed attempt is an error with the exception; the retry succeeded.
    failed, ok = attempts
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.events[0].attributes is not None
    assert failed.events[0].attributes["exception.type"] == "TimeoutError"
    assert ok.status.status_code is StatusCode.UNSET
    # The parent's history records the context its child continues.
    created = next(
        e
        for e in map(decode_event, rt.store.get_history("o-1"))
        if isinstance(e, h.SubOrchestrationCreated)
    )
    assert created.trace_context is not None
    assert created.trace_context.split("-")[2] == f"{parent_run.context.span_id:016x}"
    # The run ends after its activities.
    assert parent_run.end_time is not None and child_run.end_time is not None
    assert all(a.end_time is not None and a.end_time <= child_run.end_time for a in attempts)
    assert child_run.end_time <= parent_run.end_time


def test_a_failed_run_is_an_error_span(make_runtime: RuntimeFactory, traced: Traced) -> None:
    rt = make_runtime(tracer_provider=traced.provider)

    @rt.workflow
    def broken(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, Any]:
        yield ctx.create_timer(timedelta(0))
        raise ValueError("no such order")

    rt.start()
    client = rt.client()
    client.schedule_new_workflow(broken, instance_id="f-1")
    client.wait_for_workflow_completion("f-1", timeout_in_seconds=10)
    _wait_for(lambda: len(traced.spans("workflow broken")) == 1)
    span = traced.one("workflow broken")
    assert span.status.status_code is StatusCode.ERROR
    assert "ValueError: no such order" in (span.status.description or "")
    assert span.parent is None  # started outside any trace: a root span


def _register_waiting(rt: outlast.WorkflowRuntime) -> None:
    @rt.activity
    def ship(ctx: outlast.ActivityContext, _: Any) -> str:
        return "shipped"

    @rt.workflow
    def parcel(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, Any]:
        yield ctx.wait_for_external_event("paid")
        return (yield ctx.call_activity(ship))


def test_the_trace_survives_a_restart(
    make_runtime: RuntimeFactory, traced: Traced, store_url: str
) -> None:
    first = make_runtime(tracer_provider=traced.provider)
    _register_waiting(first)
    first.start()
    with traced.provider.get_tracer("test").start_as_current_span("checkout") as request:
        first.client().schedule_new_workflow("parcel", instance_id="p-1")
    _wait_for(
        lambda: (
            first.client().get_workflow_state("p-1").runtime_status  # type: ignore[union-attr]
            is WorkflowStatus.RUNNING
        )
    )
    first.shutdown()

    # Another process, another provider: the trace comes from what the store holds.
    later = Traced()
    second = make_runtime(tracer_provider=later.provider)
    _register_waiting(second)
    second.start()
    client = second.client()
    client.raise_workflow_event("p-1", "paid")
    client.wait_for_workflow_completion("p-1", timeout_in_seconds=10)
    _wait_for(lambda: len(later.spans("workflow parcel")) == 1)
    run = later.one("workflow parcel")
    attempt = later.one("activity ship")
    starter = request.get_span_context()
    assert run.context.trace_id == attempt.context.trace_id == starter.trace_id
    assert run.parent is not None and run.parent.span_id == starter.span_id
    assert run.attributes is not None and run.attributes["outlast.resumed"] is True
    assert attempt.parent is not None and attempt.parent.span_id == run.context.span_id
    # The trace context is in the history: on ExecutionStarted and on TaskScheduled.
    events = [decode_event(e) for e in second.store.get_history("p-1")]
    started = next(e for e in events if isinstance(e, h.ExecutionStarted))
    scheduled = next(e for e in events if isinstance(e, h.TaskScheduled))
    assert started.trace_context is not None
    assert started.trace_context.split("-")[1] == f"{starter.trace_id:032x}"
    assert scheduled.trace_context is not None
    assert scheduled.trace_context.split("-")[2] == f"{run.context.span_id:016x}"
    later.provider.shutdown()


def test_without_a_tracer_provider_nothing_is_traced(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime()
    _register_waiting(rt)
    rt.start()
    client = rt.client()
    client.schedule_new_workflow("parcel", instance_id="n-1")
    client.raise_workflow_event("n-1", "paid")
    state = client.wait_for_workflow_completion("n-1", timeout_in_seconds=10)
    assert state is not None and state.runtime_status is WorkflowStatus.COMPLETED
    events = [decode_event(e) for e in rt.store.get_history("n-1")]
    assert all(getattr(e, "trace_context", None) is None for e in events)


def test_continue_as_new_runs_stay_in_the_starters_trace(
    make_runtime: RuntimeFactory, traced: Traced, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="outlast.runtime")
    rt = make_runtime(tracer_provider=traced.provider)

    @rt.workflow
    def counter(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, Any]:
        yield ctx.create_timer(timedelta(0))
        if n < 2:
            ctx.continue_as_new(n + 1)
            return None
        return n

    rt.start()
    client = rt.client()
    with traced.provider.get_tracer("test").start_as_current_span("batch") as request:
        client.schedule_new_workflow(counter, input=0, instance_id="c-1")
    state = client.wait_for_workflow_completion("c-1", timeout_in_seconds=10)
    assert state is not None and state.output_as() == 2
    _wait_for(lambda: len(traced.spans("workflow counter")) == 3)
    runs = traced.spans("workflow counter")
    starter = request.get_span_context()
    assert {s.context.trace_id for s in runs} == {starter.trace_id}
    assert [s.parent.span_id for s in runs if s.parent] == [starter.span_id] * 3
    statuses = [s.attributes["outlast.status"] for s in runs if s.attributes]
    assert statuses == ["CONTINUED_AS_NEW", "CONTINUED_AS_NEW", "COMPLETED"]
    # Each run's end is logged too.
    ends = [r.getMessage() for r in caplog.records if "counter" in r.getMessage()]
    assert [m.split(":")[0] for m in ends if "started" not in m] == [
        "workflow counter continued as new",
        "workflow counter continued as new",
        "workflow counter completed",
    ]


def test_the_asyncio_client_records_the_callers_span(
    make_runtime: RuntimeFactory, traced: Traced
) -> None:
    rt = make_runtime(tracer_provider=traced.provider)
    _register_waiting(rt)
    rt.start()

    async def start() -> Any:
        with traced.provider.get_tracer("test").start_as_current_span("handler") as span:
            await rt.async_client().schedule_new_workflow("parcel", instance_id="a-1")
        return span.get_span_context()

    caller = asyncio.run(start())
    rt.client().wait_for_workflow_start("a-1", timeout_in_seconds=10)
    _wait_for(lambda: bool(rt.store.get_history("a-1")))
    events = [decode_event(e) for e in rt.store.get_history("a-1")]
    started = next(e for e in events if isinstance(e, h.ExecutionStarted))
    ids = f"{caller.trace_id:032x}-{caller.span_id:016x}"
    assert started.trace_context == f"00-{ids}-{caller.trace_flags:02x}"
