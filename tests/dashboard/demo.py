"""The demo workflows (``outlast.examples``) run on a real runtime and served by a
real ``outlast serve`` app, for the dashboard's page and browser tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import outlast
from outlast.examples import app as examples
from outlast.examples import error_handling
from outlast.http import BackgroundServer, create_app

XSS = "<img src=x onerror=alert(1)>"
# Instances the demo starts, by what they show.
CHAIN, ORDER, APPROVAL, RETRY, CHILDREN, XSS_ID, WAITING = (
    "demo-chain",
    "demo-order",
    "demo-approval",
    "demo-retry",
    "order-A1",
    "demo-xss",
    "demo-waiting",
)


@dataclass
class Demo:
    runtime: outlast.WorkflowRuntime
    client: outlast.WorkflowClient
    url: str


def start_demos(client: outlast.WorkflowClient) -> None:
    """Start one instance of each kind the dashboard must show, and wait until the
    ones that finish on their own have."""
    error_handling.attempts.clear()  # the flaky step fails twice in every demo
    client.schedule_new_workflow("task_chain_workflow", input=42, instance_id=CHAIN)
    order = {"Name": "Paperclips", "Quantity": 1, "TotalCost": 9.95}
    client.schedule_new_workflow("OrderProcessingWorkflow", input=order, instance_id=ORDER)
    laptop = {"cost": 2500, "product": "Laptop", "quantity": 1}
    for iid in (APPROVAL, WAITING):
        client.schedule_new_workflow("purchase_order_workflow", input=laptop, instance_id=iid)
    trip = {"to": "Lisbon", "hotel_failures": 2}
    client.schedule_new_workflow("booking_workflow", input=trip, instance_id=RETRY)
    packages = [{"sku": "lamp", "address": "Oslo"}, {"sku": "rug", "address": "Bergen"}]
    client.schedule_new_workflow(
        "fulfil_order", input={"id": "A1", "packages": packages}, instance_id=CHILDREN
    )
    evil = {"Name": XSS, "Quantity": 1, "TotalCost": 1.0}
    client.schedule_new_workflow("OrderProcessingWorkflow", input=evil, instance_id=XSS_ID)
    for iid in (CHAIN, ORDER, RETRY, CHILDREN, XSS_ID):
        client.wait_for_workflow_completion(iid, timeout_in_seconds=60)
    for iid in (APPROVAL, WAITING):
        client.wait_for_workflow_start(iid, timeout_in_seconds=60)


@contextmanager
def served_demo(store: str, *, api_token: str | None = None) -> Iterator[Demo]:
    """The examples' runtime on ``store``, the demos started, and ``outlast
    serve``'s app (API and dashboard) on a free port."""
    runtime = examples.build(store)
    runtime.start()
    try:
        client = runtime.client()
        start_demos(client)
        app = create_app(client, runtime=runtime, api_token=api_token)
        with BackgroundServer(app) as server:
            yield Demo(runtime, client, server.url)
    finally:
        runtime.shutdown()
        runtime.store.close()
