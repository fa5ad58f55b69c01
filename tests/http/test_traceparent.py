"""The HTTP API's ``traceparent`` header: the started run joins the caller's trace
(stored with the instance; spans when a tracer provider is set)."""

from __future__ import annotations

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from outlast import WorkflowClient, WorkflowRuntime
from outlast.core import history as h
from outlast.core.codec import decode_event
from outlast.core.status import WorkflowStatus
from outlast.http import BackgroundServer, create_app
from outlast.store import open_store
from tests.http.sample_app import order_processing, process_order
from tests.runtime.test_runtime import _wait_for

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = "00f067aa0ba902b7"


def test_the_traceparent_header_is_the_runs_parent(store_url: str) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    store = open_store(store_url)
    runtime = WorkflowRuntime(store, tracer_provider=provider)
    runtime.register_activity(process_order)
    runtime.register_workflow(order_processing, name="OrderProcessingWorkflow")
    runtime.start()
    client = WorkflowClient(store)
    try:
        with BackgroundServer(create_app(client, runtime=runtime)) as server:
            headers = {"traceparent": f"00-{TRACE}-{CALLER}-01"}
            url = f"{server.url}/v1.0/workflows/dapr/OrderProcessingWorkflow/start"
            answer = httpx.post(f"{url}?instanceID=t-1", json={"id": 1}, headers=headers)
            assert answer.status_code == 202
            bad = httpx.post(f"{url}?instanceID=t-2", json={}, headers={"traceparent": "junk"})
            assert bad.status_code == 202
            for iid in ("t-1", "t-2"):
                state = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
                assert state is not None and state.runtime_status is WorkflowStatus.COMPLETED
        runs = lambda: [s for s in exporter.get_finished_spans() if s.name.startswith("workflow")]  # noqa: E731
        _wait_for(lambda: len(runs()) == 2)
        by_id = {s.attributes["outlast.instance_id"]: s for s in runs()}  # type: ignore[index]
        traced = by_id["t-1"]
        assert f"{traced.context.trace_id:032x}" == TRACE
        assert traced.parent is not None and f"{traced.parent.span_id:016x}" == CALLER
        # A malformed header is ignored: the run starts a trace of its own.
        assert by_id["t-2"].parent is None
        started = next(
            e
            for e in map(decode_event, store.get_history("t-1"))
            if isinstance(e, h.ExecutionStarted)
        )
        assert started.trace_context == f"00-{TRACE}-{CALLER}-01"
    finally:
        runtime.shutdown()
        store.close()
        provider.shutdown()
