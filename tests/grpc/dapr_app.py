"""The Dapr SDK app of tests/grpc: the seed patterns as Dapr workflows, run in a
process of its own (``python -m tests.grpc.dapr_app PORT``) against the sidecar."""

from __future__ import annotations

import os
import signal
import sys
import threading
from datetime import timedelta
from typing import Any

import dapr.ext.workflow as wf

from tests.grpc.sdk_activities import chain, cube, hello, slow_item, square


def fan(ctx: wf.DaprWorkflowContext, count: int) -> Any:
    tasks = [ctx.call_activity(square, input=i) for i in range(count)]
    results = yield wf.when_all(tasks)
    return sum(results)


def approval(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
    event = ctx.wait_for_external_event("approve")
    timeout = ctx.create_timer(timedelta(seconds=30))
    winner = yield wf.when_any([event, timeout])
    if winner == timeout:
        return "timed out"
    return f"approved by {event.get_result()}"


def short_approval(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
    event = ctx.wait_for_external_event("approve")
    timeout = ctx.create_timer(timedelta(seconds=1))
    winner = yield wf.when_any([event, timeout])
    return "timed out" if winner == timeout else "approved"


def child(ctx: wf.DaprWorkflowContext, n: int) -> Any:
    cubed = yield ctx.call_activity(cube, input=n)
    return cubed + 1


def parent(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
    results = yield wf.when_all([ctx.call_child_workflow(child, input=i) for i in range(3)])
    return results


_attempts: dict[str, int] = {}


def flaky(ctx: wf.WorkflowActivityContext, key: str) -> str:
    _attempts[key] = _attempts.get(key, 0) + 1
    if _attempts[key] < 3:
        raise RuntimeError(f"attempt {_attempts[key]} fails")
    return f"ok after {_attempts[key]}"


def retrying(ctx: wf.DaprWorkflowContext, key: str) -> Any:
    policy = wf.RetryPolicy(
        first_retry_interval=timedelta(milliseconds=100), max_number_of_attempts=5
    )
    return (yield ctx.call_activity(flaky, input=key, retry_policy=policy))


def counter(ctx: wf.DaprWorkflowContext, n: int) -> Any:
    if n < 3:
        yield ctx.create_timer(timedelta(milliseconds=50))
        ctx.continue_as_new(n + 1)
        return None
    return n


def waiter(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
    """Waits for "go" with no timeout (the 9999-12-31 timer that never fires)."""
    ctx.set_custom_status("waiting")
    value = yield ctx.wait_for_external_event("go")
    first = yield ctx.call_activity(hello, input=str(value))
    return first


def slow_fan(ctx: wf.DaprWorkflowContext, count: int) -> Any:
    results = yield wf.when_all([ctx.call_activity(slow_item, input=i) for i in range(count)])
    return sum(results)


WORKFLOWS = [chain, fan, approval, short_approval, parent, child, retrying, counter, waiter]
WORKFLOWS.append(slow_fan)
ACTIVITIES = [hello, square, cube, flaky, slow_item]


def main(port: str) -> None:
    # A small history cache makes the SDK miss and ask GetInstanceHistory.
    cache = os.environ.get("OUTLAST_TEST_HISTORY_CACHE")
    runtime = wf.WorkflowRuntime(
        host="127.0.0.1",
        port=port,
        history_cache_max_instances=int(cache) if cache else None,
    )
    for w in WORKFLOWS:
        runtime.register_workflow(w)
    for a in ACTIVITIES:
        runtime.register_activity(a)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    runtime.start()
    print("ready", flush=True)
    stop.wait()
    runtime.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
