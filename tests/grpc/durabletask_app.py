"""The Microsoft ``durabletask`` SDK app of tests/grpc, in a process of its own.

``python -m tests.grpc.durabletask_app PORT [--tls]`` runs a ``TaskHubGrpcWorker``
with the seed patterns (here and in ``sdk_activities.py``) against the sidecar's
Microsoft-flavor port, and answers ``TaskHubGrpcClient`` calls sent as JSON lines on
stdin (one JSON line back on stdout each). It cannot run inside pytest: the SDK's
generated protos and the Dapr SDK's (which the test process imports) declare no
package, so they collide in protobuf's process-wide descriptor pool. ``--tls``: a
secure channel (trusting the roots in ``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH``)."""

from __future__ import annotations

import json
import sys
import traceback
from dataclasses import fields, is_dataclass
from datetime import timedelta
from typing import Any

from durabletask import client as dt_client
from durabletask import task, worker
from durabletask.internal import orchestrator_service_pb2 as pb

from tests.grpc.sdk_activities import chain, cube, hello, slow_item, square

# --- activities -------------------------------------------------------------------

_attempts: dict[str, int] = {}


def flaky(ctx: task.ActivityContext, key: str) -> str:
    # Fails twice per key, then succeeds: the retry policy's business.
    _attempts[key] = _attempts.get(key, 0) + 1
    if _attempts[key] < 3:
        raise RuntimeError(f"attempt {_attempts[key]} of {key} fails")
    return f"ok after {_attempts[key]}"


def broken(ctx: task.ActivityContext, key: str) -> str:
    # Fails on its first run per key: a rewind reruns it and it succeeds.
    _attempts[key] = _attempts.get(key, 0) + 1
    if _attempts[key] == 1:
        raise ValueError(f"{key} breaks once")
    return f"{key} mended"


# --- orchestrators ------------------------------------------------------------------


def fan(ctx: task.OrchestrationContext, count: int) -> Any:
    results = yield task.when_all([ctx.call_activity(square, input=i) for i in range(count)])
    return sum(results)


def approval(ctx: task.OrchestrationContext, seconds: int) -> Any:
    event = ctx.wait_for_external_event("approve")
    timeout = ctx.create_timer(timedelta(seconds=seconds))
    winner = yield task.when_any([event, timeout])
    if winner == timeout:
        return "timed out"
    return f"approved by {event.get_result()}"


def counter(ctx: task.OrchestrationContext, n: int) -> Any:
    # The monitor pattern: check, wait, continue as new with a fresh history.
    ctx.set_custom_status(f"at {n}")
    if n >= 3:
        return n
    yield ctx.create_timer(timedelta(milliseconds=100))
    ctx.continue_as_new(n + 1)
    return None


def child(ctx: task.OrchestrationContext, n: int) -> Any:
    cubed = yield ctx.call_activity(cube, input=n)
    return cubed + 1


def parent(ctx: task.OrchestrationContext, _: Any) -> Any:
    results = yield task.when_all(
        [
            ctx.call_sub_orchestrator(child, input=n, instance_id=f"{ctx.instance_id}-c{n}")
            for n in (0, 1, 2)
        ]
    )
    return results


def retrying(ctx: task.OrchestrationContext, key: str) -> Any:
    policy = task.RetryPolicy(
        first_retry_interval=timedelta(milliseconds=100), max_number_of_attempts=5
    )
    return (yield ctx.call_activity(flaky, input=key, retry_policy=policy))


def waiter(ctx: task.OrchestrationContext, _: Any) -> Any:
    # Counts "tick" events until "done".
    done = ctx.wait_for_external_event("done")
    ticks = 0
    while True:
        tick = ctx.wait_for_external_event("tick")
        winner = yield task.when_any([tick, done])
        if winner == done:
            return ticks
        ticks += 1


def holder(ctx: task.OrchestrationContext, _: Any) -> Any:
    # A parent waiting on a child that waits for ever.
    return (yield ctx.call_sub_orchestrator(waiter, instance_id=f"{ctx.instance_id}-child"))


def slow_fan(ctx: task.OrchestrationContext, count: int) -> Any:
    results = yield task.when_all([ctx.call_activity(slow_item, input=i) for i in range(count)])
    return sum(results)


def rewindable(ctx: task.OrchestrationContext, key: str) -> Any:
    a = yield ctx.call_activity(hello, input=key)
    b = yield ctx.call_activity(broken, input=key)
    return [a, b]


ORCHESTRATORS = [chain, fan, approval, counter, child, parent, retrying, waiter, holder, rewindable]
ORCHESTRATORS.append(slow_fan)
ACTIVITIES = [hello, square, cube, flaky, broken, slow_item]

# --- the client, over stdin ---------------------------------------------------------


def plain(value: Any) -> Any:
    """A JSON-able copy of an SDK result."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "name") and hasattr(value, "value") and not is_dataclass(value):
        return value.name  # an enum
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if is_dataclass(value):
        out = {f.name: plain(getattr(value, f.name)) for f in fields(value) if f.name[0] != "_"}
        return {"type": type(value).__name__, **out}
    if isinstance(value, Exception):
        return {"type": type(value).__name__, "message": str(value)}
    return {"type": type(value).__name__, "repr": repr(value)}


def arguments(kwargs: dict[str, Any]) -> dict[str, Any]:
    """SDK values for the JSON arguments that need them."""
    out = dict(kwargs)
    if "runtime_status" in out:
        out["runtime_status"] = [dt_client.OrchestrationStatus[s] for s in out["runtime_status"]]
    if "reuse_statuses" in out:
        statuses = [getattr(pb, f"ORCHESTRATION_STATUS_{s}") for s in out.pop("reuse_statuses")]
        out["reuse_id_policy"] = pb.OrchestrationIdReusePolicy(replaceableStatus=statuses)
    if "orchestration_query" in out:
        q = out["orchestration_query"]
        if "runtime_status" in q:
            q["runtime_status"] = [dt_client.OrchestrationStatus[s] for s in q["runtime_status"]]
        out["orchestration_query"] = dt_client.OrchestrationQuery(**q)
    return out


def serve(client: dt_client.TaskHubGrpcClient) -> None:
    for line in sys.stdin:
        request = json.loads(line)
        try:
            method = getattr(client, request["call"])
            result = method(*request.get("args", []), **arguments(request.get("kwargs", {})))
            answer: dict[str, Any] = {"result": plain(result)}
        except Exception as e:
            code = e.code().name if hasattr(e, "code") and callable(e.code) else None
            details = e.details() if hasattr(e, "details") and callable(e.details) else str(e)
            answer = {"error": type(e).__name__, "code": code, "message": details}
            traceback.print_exc(file=sys.stderr)
        print(json.dumps(answer), flush=True)


def main() -> None:
    address = f"localhost:{sys.argv[1]}"
    secure = "--tls" in sys.argv
    # A few activities at a time (the SDK's default runs a whole fan-out at once):
    # the fault test kills the worker in the middle of one.
    limits = worker.ConcurrencyOptions(maximum_concurrent_activity_work_items=4)
    w = worker.TaskHubGrpcWorker(
        host_address=address, secure_channel=secure, concurrency_options=limits
    )
    for o in ORCHESTRATORS:
        w.add_orchestrator(o)
    for a in ACTIVITIES:
        w.add_activity(a)
    w.start()
    client = dt_client.TaskHubGrpcClient(host_address=address, secure_channel=secure)
    print(json.dumps({"ready": True}), flush=True)
    try:
        serve(client)
    finally:
        w.stop()


if __name__ == "__main__":
    main()
