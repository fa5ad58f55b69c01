"""Changing a workflow while instances of it are running: a patch with
``ctx.is_patched``, and a rerun from an event once a broken step is fixed."""

from collections.abc import Generator
from typing import Any

import outlast

receipts_enabled = True
payment_service_up = False


def checkout(ctx: outlast.WorkflowContext, order: str) -> Generator[Any, Any, list[str]]:
    steps = [(yield ctx.call_activity(reserve, input=order))]
    # Added after instances were already running: they skip it, new ones do it.
    if receipts_enabled and ctx.is_patched("send-receipt"):
        steps.append((yield ctx.call_activity(send_receipt, input=order)))
    steps.append((yield ctx.call_activity(charge, input=order)))
    return steps


def reserve(ctx: outlast.ActivityContext, order: str) -> str:
    return f"reserved {order}"


def send_receipt(ctx: outlast.ActivityContext, order: str) -> str:
    return f"receipt for {order}"


def charge(ctx: outlast.ActivityContext, order: str) -> str:
    if not payment_service_up:
        raise ConnectionError("payment service unavailable")
    return f"charged {order}"


def register(runtime: outlast.WorkflowRuntime) -> None:
    runtime.register_workflow(checkout)
    for activity in (reserve, send_receipt, charge):
        runtime.register_activity(activity)


def main(store: str | None = None) -> list[Any]:
    global payment_service_up
    runtime = outlast.WorkflowRuntime(store)
    register(runtime)
    with runtime:
        client = outlast.WorkflowClient(store)
        first = client.schedule_new_workflow(checkout, input="order-7")
        failed = client.wait_for_workflow_completion(first, timeout_in_seconds=30)
        assert failed is not None and failed.failure_details is not None
        print(f"{first}: {failed.runtime_status.name}: {failed.failure_details.message}")

        # The payment service is fixed: rerun from the failed step, not from scratch.
        history = client.get_workflow_history(first)
        charge_event = max(
            n
            for n, e in enumerate(history)
            if e["kind"] == "TaskScheduled" and e["name"] == "charge"
        )
        payment_service_up = True
        second = client.rerun_workflow_from_event(first, charge_event)
        done = client.wait_for_workflow_completion(second, timeout_in_seconds=30)
        assert done is not None
        print(f"{second} (rerun of {first}): {done.serialized_output}")
        return [failed.runtime_status.name, done.output_as()]


if __name__ == "__main__":
    main()
