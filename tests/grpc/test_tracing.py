"""Tracing through the sidecar: a run of the real Dapr SDK's worker is a span of
the starter's trace, and the activities it schedules go out carrying the run's
context (TaskScheduledEvent and ActivityRequest's parentTraceContext)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from outlast.core import history as h
from outlast.core.codec import decode_event
from outlast.grpc.server import SidecarServer
from tests.conftest import RuntimeFactory
from tests.grpc.conftest import Sidecar
from tests.runtime.test_runtime import _wait_for

EXPORTER = InMemorySpanExporter()
PROVIDER = TracerProvider()
PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))


@pytest.fixture
def sidecar(make_runtime: RuntimeFactory) -> Iterator[Sidecar]:
    EXPORTER.clear()
    rt = make_runtime(tracer_provider=PROVIDER)
    server = SidecarServer(rt, port=0)
    rt.start()
    server.start()
    yield Sidecar(rt, server)
    server.stop()


def test_an_sdk_workers_run_joins_the_starters_trace(sidecar: Sidecar, dapr_worker: None) -> None:
    client = sidecar.runtime.client()
    with PROVIDER.get_tracer("test").start_as_current_span("request") as request:
        client.schedule_new_workflow("chain", instance_id="traced-chain")
    state = client.wait_for_workflow_completion("traced-chain", timeout_in_seconds=60)
    assert state is not None and state.runtime_status.value == "COMPLETED"
    _wait_for(lambda: any(s.name == "workflow chain" for s in EXPORTER.get_finished_spans()))
    (run,) = [s for s in EXPORTER.get_finished_spans() if s.name == "workflow chain"]
    assert run.context.trace_id == request.get_span_context().trace_id
    assert run.parent is not None and run.parent.span_id == request.get_span_context().span_id
    scheduled = [
        e
        for e in map(decode_event, sidecar.runtime.store.get_history("traced-chain"))
        if isinstance(e, h.TaskScheduled)
    ]
    assert len(scheduled) == 3
    assert {e.trace_context for e in scheduled} == {
        f"00-{run.context.trace_id:032x}-{run.context.span_id:016x}-{run.context.trace_flags:02x}"
    }
