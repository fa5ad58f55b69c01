"""Child workflows: an order fans out to one child workflow per package; a failed
child surfaces in the parent, and terminating the parent stops its children."""

from collections.abc import Generator
from typing import Any

import outlast


def ship_package(ctx: outlast.WorkflowContext, package: dict) -> Generator[Any, Any, str]:
    label = yield ctx.call_activity(print_label, input=package)
    yield ctx.call_activity(hand_to_carrier, input=label)
    return str(label)


def fulfil_order(ctx: outlast.WorkflowContext, order: dict) -> Generator[Any, Any, dict]:
    shipments = [
        ctx.call_child_workflow(
            ship_package, input=package, instance_id=f"{ctx.instance_id}-pkg-{n}"
        )
        for n, package in enumerate(order["packages"])
    ]
    try:
        labels = yield outlast.when_all(shipments)
    except outlast.TaskFailedError as e:
        return {"order": order["id"], "shipped": False, "reason": e.details.message}
    return {"order": order["id"], "shipped": True, "labels": labels}


def print_label(ctx: outlast.ActivityContext, package: dict) -> str:
    if not package.get("address"):
        raise ValueError(f"package {package['sku']} has no address")
    return f"{package['sku']} -> {package['address']}"


def hand_to_carrier(ctx: outlast.ActivityContext, label: str) -> None:
    print(f"Carrier picked up {label}")


def register(runtime: outlast.WorkflowRuntime) -> None:
    runtime.register_workflow(fulfil_order)
    runtime.register_workflow(ship_package)
    runtime.register_activity(print_label)
    runtime.register_activity(hand_to_carrier)


def main(store: str | None = None) -> list[Any]:
    runtime = outlast.WorkflowRuntime(store)
    register(runtime)
    outputs = []
    with runtime:
        client = outlast.WorkflowClient(store)
        good = {
            "id": "A1",
            "packages": [{"sku": "lamp", "address": "Oslo"}, {"sku": "rug", "address": "Bergen"}],
        }
        bad = {"id": "B2", "packages": [{"sku": "desk", "address": ""}]}
        for order in (good, bad):
            iid = client.schedule_new_workflow(
                fulfil_order, input=order, instance_id=f"order-{order['id']}"
            )
            state = client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
            assert state is not None
            print(f"{iid}: {state.serialized_output}")
            outputs.append(state.output_as())
        children = client.list_workflows(name="ship_package")
        print("children:", [(s.instance_id, s.runtime_status.name) for s in children])
    return outputs


if __name__ == "__main__":
    main()
