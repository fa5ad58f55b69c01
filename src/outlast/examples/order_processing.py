"""Async HTTP APIs: the order workflow that the Dapr docs start with ``curl`` and
poll for status. Run ``outlast serve`` (or ``make serve``) and use the curl
commands in the README; this file also runs it embedded: start, then poll."""

import time
from dataclasses import dataclass

import outlast.dapr as wf


@dataclass
class OrderPayload:
    Name: str
    Quantity: int
    TotalCost: float


def OrderProcessingWorkflow(ctx: wf.DaprWorkflowContext, order: OrderPayload):
    ctx.set_custom_status("reserving inventory")
    in_stock = yield ctx.call_activity(reserve_inventory, input=order)
    if not in_stock:
        return {"Processed": False}
    ctx.set_custom_status("processing payment")
    yield ctx.call_activity(process_payment, input=order)
    ctx.set_custom_status("shipping")
    yield ctx.call_activity(ship_order, input=order)
    ctx.set_custom_status(None)
    return {"Processed": True}


def reserve_inventory(ctx, order: OrderPayload) -> bool:
    print(f"Reserving {order.Quantity} x {order.Name}")
    return order.Quantity <= 1000


def process_payment(ctx, order: OrderPayload) -> None:
    print(f"Charging ${order.TotalCost:.2f} for {order.Name}")


def ship_order(ctx, order: OrderPayload) -> None:
    print(f"Shipping {order.Quantity} x {order.Name}")


def register(wfr: wf.WorkflowRuntime) -> None:
    wfr.register_workflow(OrderProcessingWorkflow)
    for activity in (reserve_inventory, process_payment, ship_order):
        wfr.register_activity(activity)


def main(store: str | None = None) -> wf.WorkflowState | None:
    wfr = wf.WorkflowRuntime(store=store)
    register(wfr)
    with wfr:
        client = wf.DaprWorkflowClient(store=store)
        instance_id = client.schedule_new_workflow(
            workflow=OrderProcessingWorkflow,
            input=OrderPayload(Name="Paperclips", Quantity=1, TotalCost=9.95),
        )
        # The asynchronous request-reply pattern: poll until a terminal status.
        while True:
            state = client.get_workflow_state(instance_id)
            assert state is not None
            print(f"{instance_id}: {state.runtime_status.name} {state.serialized_custom_status}")
            if state.runtime_status.is_terminal:
                print(f"Output: {state.serialized_output}")
                return state
            time.sleep(0.05)


if __name__ == "__main__":
    main()
