"""External system interaction: a purchase order waits for a manager's approval,
or is cancelled when none arrives within 24 hours."""

from dataclasses import asdict, dataclass
from datetime import timedelta

import outlast.dapr as wf


@dataclass
class Order:
    cost: float
    product: str
    quantity: int

    def __str__(self):
        return f"{self.product} ({self.quantity})"


@dataclass
class Approval:
    approver: str

    @staticmethod
    def from_dict(dict):
        return Approval(**dict)


def purchase_order_workflow(ctx: wf.DaprWorkflowContext, order: Order):
    # Orders under $1000 are auto-approved
    if order.cost < 1000:
        return "Auto-approved"

    # Orders of $1000 or more require manager approval
    yield ctx.call_activity(send_approval_request, input=order)

    # Approvals must be received within 24 hours or they will be canceled.
    approval_event = ctx.wait_for_external_event("approval_received")
    timeout_event = ctx.create_timer(timedelta(hours=24))
    winner = yield wf.when_any([approval_event, timeout_event])
    if winner == timeout_event:
        return "Cancelled"

    # The order was approved
    yield ctx.call_activity(place_order, input=order)
    approval_details = Approval.from_dict(approval_event.get_result())
    return f"Approved by '{approval_details.approver}'"


def send_approval_request(_, order: Order) -> None:
    print(f"*** Sending approval request for order: {order}")


def place_order(_, order: Order) -> None:
    print(f"*** Placing order: {order}")


def register(wfr: wf.WorkflowRuntime) -> None:
    wfr.register_workflow(purchase_order_workflow)
    wfr.register_activity(send_approval_request)
    wfr.register_activity(place_order)


def main(store: str | None = None) -> list[str | None]:
    wfr = wf.WorkflowRuntime(store=store)
    register(wfr)
    outputs = []
    with wfr:
        client = wf.DaprWorkflowClient(store=store)
        small = client.schedule_new_workflow(
            workflow=purchase_order_workflow, input=Order(99.5, "Paperclips", 10)
        )
        big = client.schedule_new_workflow(
            workflow=purchase_order_workflow, input=Order(2500, "Laptop", 1)
        )
        client.wait_for_workflow_start(big)
        # A manager approves (in real life: a link in the approval email).
        client.raise_workflow_event(
            instance_id=big, event_name="approval_received", data=asdict(Approval("Jane Doe"))
        )
        for instance_id in (small, big):
            state = client.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)
            assert state is not None
            print(f"Order workflow {instance_id}: {state.serialized_output}")
            outputs.append(state.serialized_output)
    return outputs


if __name__ == "__main__":
    main()
