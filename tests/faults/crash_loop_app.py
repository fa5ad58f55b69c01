"""The crash-loop workload: ``python -m tests.faults.crash_loop_app STORE SIDE_FILE``
runs a worker until it is killed; the test imports it for the workflows and the
results to expect.

Every activity execution appends one line to SIDE_FILE, fsynced before the
activity returns (so before its result can be committed): ``pid instance task``.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import outlast

_side: dict[str, str] = {}
_lock = threading.Lock()

FAN = 12
EVENT_DATA = 1000
RETRY = outlast.RetryPolicy(
    first_retry_interval=timedelta(milliseconds=100), max_number_of_attempts=5
)


def _log(ctx: outlast.ActivityContext) -> None:
    line = f"{os.getpid()} {ctx.workflow_id} {ctx.task_id}\n"
    with _lock, open(_side["path"], "a") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def step(ctx: outlast.ActivityContext, x: int) -> int:
    _log(ctx)
    return x + 1


def square(ctx: outlast.ActivityContext, x: int) -> int:
    _log(ctx)
    return x * x


def flaky(ctx: outlast.ActivityContext, x: int) -> int:
    """Fails its first attempt (the workflow's first task): the retry, a task of
    its own, comes after a durable timer."""
    _log(ctx)
    if ctx.task_id == 0:
        raise RuntimeError(f"first attempt of {x} fails")
    return x


def chain(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, int]:
    x = n
    for _ in range(4):
        x = yield ctx.call_activity(step, input=x)
    return int(x)


def fan_out(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, int]:
    values = yield outlast.when_all([ctx.call_activity(square, input=n + i) for i in range(FAN)])
    return int(sum(values))


def timer(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, int]:
    yield ctx.create_timer(timedelta(milliseconds=300))
    x = yield ctx.call_activity(step, input=n)
    return int(x)


def event(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, int]:
    extra = yield ctx.wait_for_external_event("go")
    x = yield ctx.call_activity(step, input=n + int(extra))
    return int(x)


def parent(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, int]:
    first = yield ctx.call_child_workflow(chain, input=n)
    second = yield ctx.call_child_workflow(fan_out, input=n)
    return int(first) + int(second)


def retried(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, int]:
    x = yield ctx.call_activity(flaky, input=n, retry_policy=RETRY)
    return int(x)


WORKFLOWS = (chain, fan_out, timer, event, parent, retried)


def expected(workflow: str, n: int) -> int:
    fan = sum((n + i) ** 2 for i in range(FAN))
    return {
        "chain": n + 4,
        "fan_out": fan,
        "timer": n + 1,
        "event": n + EVENT_DATA + 1,
        "parent": n + 4 + fan,
        "retried": n,
    }[workflow]


def build(store: str) -> outlast.WorkflowRuntime:
    # Short leases: a killed worker's instances are free again soon.
    runtime = outlast.WorkflowRuntime(store, lease_seconds=2.0, poll_interval=0.05)
    for wf in WORKFLOWS:
        runtime.register_workflow(wf)
    for activity in (step, square, flaky):
        runtime.register_activity(activity)
    return runtime


def main() -> None:
    store, _side["path"] = sys.argv[1], sys.argv[2]
    runtime = build(store)
    runtime.start()
    print("ready", flush=True)
    threading.Event().wait()  # until killed


if __name__ == "__main__":
    main()
