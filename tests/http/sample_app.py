"""Workflows the server and CLI tests drive (and ``outlast serve`` imports as
``tests.http.sample_app:runtime``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from outlast import ActivityContext, WorkflowContext, WorkflowRuntime
from outlast.store import Store


def process_order(ctx: ActivityContext, order: dict[str, Any]) -> dict[str, Any]:
    return {"Processed": True}


def order_processing(ctx: WorkflowContext, order: dict[str, Any]) -> Any:
    """The seeds' OrderProcessingWorkflow, as far as its curl example shows it."""
    result = yield ctx.call_activity(process_order, input=order)
    return result


def approval(ctx: WorkflowContext, request: Any) -> Any:
    """Waits for an ``approve`` event and returns its data."""
    ctx.set_custom_status("waiting for approval")
    decision = yield ctx.wait_for_external_event("approve")
    ctx.set_custom_status("decided")
    return {"request": request, "decision": decision}


def failing(ctx: WorkflowContext, message: str | None) -> Any:
    """Fails with ``boom: <input>`` (given an input)."""
    if message is not None:
        raise ValueError(f"boom: {message}")
    yield ctx.create_timer(timedelta(0))


def make_runtime(store: str | Store | None = None) -> WorkflowRuntime:
    runtime = WorkflowRuntime(store)
    runtime.register_activity(process_order)
    runtime.register_workflow(order_processing, name="OrderProcessingWorkflow")
    runtime.register_workflow(approval)
    runtime.register_workflow(failing)
    return runtime


runtime = make_runtime()
