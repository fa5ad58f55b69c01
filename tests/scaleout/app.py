"""The scale-out workload. A worker process runs it with
``python -m tests.scaleout.app STORE_URL NAME LEASE_SECONDS``; the test process
imports it for the expected results."""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import psycopg

import outlast

RUNS_TABLE = (
    "CREATE TABLE IF NOT EXISTS scaleout_runs "
    "(instance_id text NOT NULL, task_id integer NOT NULL, worker text NOT NULL)"
)

_local = threading.local()
_config: dict[str, str] = {}


def _record_run(ctx: outlast.ActivityContext) -> None:
    """Note which worker ran this activity, in a side table."""
    conn: psycopg.Connection[Any] | None = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg.connect(_config["url"], autocommit=True)
        _local.conn = conn
    try:
        conn.execute(
            "INSERT INTO scaleout_runs (instance_id, task_id, worker) VALUES (%s, %s, %s)",
            (ctx.workflow_id, ctx.task_id, _config["name"]),
        )
    except psycopg.OperationalError:
        _local.conn = None
        raise  # the activity fails and is retried with the workflow's policy


def step(ctx: outlast.ActivityContext, x: int) -> int:
    _record_run(ctx)
    time.sleep(0.01)
    return x + 1


def square(ctx: outlast.ActivityContext, x: int) -> int:
    _record_run(ctx)
    return x * x


# Activities write to the database too, so they fail while it restarts.
RETRY = outlast.RetryPolicy(
    first_retry_interval=timedelta(milliseconds=200),
    max_number_of_attempts=40,
    backoff_coefficient=1.5,
    max_retry_interval=timedelta(seconds=2),
)


def chain(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, int]:
    x = n
    for _ in range(3):
        x = yield ctx.call_activity(step, input=x, retry_policy=RETRY)
    return int(x)


def fan_out(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, int]:
    tasks = [ctx.call_activity(square, input=n + i, retry_policy=RETRY) for i in range(5)]
    values = yield outlast.when_all(tasks)
    return int(sum(values))


def timer(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, int]:
    yield ctx.create_timer(timedelta(seconds=1))
    x = yield ctx.call_activity(step, input=n, retry_policy=RETRY)
    return int(x)


def event(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, int]:
    extra = yield ctx.wait_for_external_event("go")
    x = yield ctx.call_activity(step, input=n + int(extra), retry_policy=RETRY)
    return int(x)


def parent(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, int]:
    x = yield ctx.call_child_workflow(chain, input=n)
    return int(x) * 2


WORKFLOWS = (chain, fan_out, timer, event, parent)


def ticked(ctx: outlast.WorkflowContext) -> Generator[Any, Any, str]:
    """Started by a schedule (tests/scaleout/test_schedules.py): one step, then
    the tick it was started for."""
    yield ctx.call_activity(step, input=0, retry_policy=RETRY)
    when = ctx.scheduled_time
    assert when is not None
    return when.isoformat()


EVENT_DATA = 1000


def expected(workflow: str, n: int) -> int:
    return {
        "chain": n + 3,
        "fan_out": sum((n + i) ** 2 for i in range(5)),
        "timer": n + 1,
        "event": n + EVENT_DATA + 1,
        "parent": (n + 3) * 2,
    }[workflow]


def build(store: str, *, lease_seconds: float) -> outlast.WorkflowRuntime:
    runtime = outlast.WorkflowRuntime(store, lease_seconds=lease_seconds, poll_interval=0.25)
    for wf in (*WORKFLOWS, ticked):
        runtime.register_workflow(wf)
    runtime.register_activity(step)
    runtime.register_activity(square)
    return runtime


def main() -> None:
    url, name, lease = sys.argv[1], sys.argv[2], float(sys.argv[3])
    _config.update(url=url, name=name)
    logging.basicConfig(level=logging.WARNING, format=f"{name} %(asctime)s %(message)s")
    logging.getLogger("outlast.schedules").setLevel(logging.DEBUG)  # who fired which tick
    # Each worker passes for a machine of its own, so a dead one is found only by
    # its lease running out (not by a process check on the same host).
    socket.gethostname = lambda: f"scaleout-{name}"
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    runtime = build(url, lease_seconds=lease)
    runtime.start()
    print("ready", flush=True)
    stop.wait()
    runtime.shutdown()
    runtime.store.close()


if __name__ == "__main__":
    main()
