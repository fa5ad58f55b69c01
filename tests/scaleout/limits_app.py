"""The flow-control workload: activities under cluster-wide limits, each noting
when it started and ended (and where) in a side table. A worker process runs it
with ``python -m tests.scaleout.limits_app STORE_URL NAME``."""

from __future__ import annotations

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
    "CREATE TABLE IF NOT EXISTS limit_runs (activity text NOT NULL, instance_id text NOT NULL, "
    "task_id integer NOT NULL, input text NOT NULL, worker text NOT NULL, "
    "started double precision NOT NULL, ended double precision)"
)
GATE_TABLE = "CREATE TABLE IF NOT EXISTS limit_gate (open boolean NOT NULL)"

CONCURRENCY = 5
PER_WORKER = 3
WORKFLOWS_AT_ONCE = 4
PER_KEY = 2
RATE = outlast.Rate(20, per=timedelta(seconds=1))

_local = threading.local()
_config: dict[str, str] = {}


def _conn() -> psycopg.Connection[Any]:
    conn: psycopg.Connection[Any] | None = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg.connect(_config["url"], autocommit=True)
        _local.conn = conn
    return conn


def _run(ctx: outlast.ActivityContext, value: str, seconds: float) -> str:
    """Note the start, take ``seconds``, note the end."""
    started = time.time()
    row = (
        _conn()
        .execute(
            "INSERT INTO limit_runs (activity, instance_id, task_id, input, worker, started) "
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING ctid",
            (ctx.name, ctx.workflow_id, ctx.task_id, value, _config["name"], started),
        )
        .fetchone()
    )
    assert row is not None
    time.sleep(seconds)
    ended = time.time()  # (before the UPDATE: the end is when the work ended)
    _conn().execute("UPDATE limit_runs SET ended = %s WHERE ctid = %s", (ended, row[0]))
    return value


def capped(ctx: outlast.ActivityContext, value: str) -> str:
    return _run(ctx, value, 0.05)


def keyed(ctx: outlast.ActivityContext, value: str) -> str:
    return _run(ctx, value, 0.05)


def paced(ctx: outlast.ActivityContext, value: str) -> str:
    return _run(ctx, value, 0.0)


def ordered(ctx: outlast.ActivityContext, value: str) -> str:
    if value == "gate":
        # Holds the only slot until the test opens the gate (once the others queued).
        while not _conn().execute("SELECT 1 FROM limit_gate WHERE open").fetchone():
            time.sleep(0.02)
    return _run(ctx, value, 0.0)


def in_job(ctx: outlast.ActivityContext, value: str) -> str:
    return _run(ctx, value, 0.1)


def job(ctx: outlast.WorkflowContext, value: str) -> Generator[Any, Any, str]:
    """A workflow under a limit: its activity runs while the instance holds a slot."""
    return str((yield ctx.call_activity(in_job, input=value)))


def fan(ctx: outlast.WorkflowContext, spec: dict[str, Any]) -> Generator[Any, Any, int]:
    """``spec``: the activity, how many calls, and the keys to cycle through."""
    keys = spec.get("keys") or [None]
    calls = [
        ctx.call_activity(spec["activity"], input=f"{n}", key=keys[n % len(keys)])
        for n in range(spec["count"])
    ]
    done = yield outlast.when_all(calls)
    return len(done)


def one(ctx: outlast.WorkflowContext, spec: dict[str, Any]) -> Generator[Any, Any, str]:
    value = yield ctx.call_activity(ordered, input=spec["value"], priority=spec["priority"])
    return str(value)


def build(store: str) -> outlast.WorkflowRuntime:
    # Three activities a worker: no one worker can fill a limit of 5 alone, so
    # the limit is held by the workers together, not by each one's own cap.
    runtime = outlast.WorkflowRuntime(
        store, lease_seconds=5.0, poll_interval=0.1, max_concurrent_activities=PER_WORKER
    )
    for wf in (fan, one, job):
        runtime.register_workflow(wf)
    for act in (capped, keyed, paced, ordered, in_job):
        runtime.register_activity(act)
    runtime.limit(job, concurrency=WORKFLOWS_AT_ONCE)
    runtime.limit(capped, concurrency=CONCURRENCY)
    runtime.limit(keyed, per_key=PER_KEY)
    runtime.limit(paced, rate=RATE)
    runtime.limit(ordered, concurrency=1)
    return runtime


def main() -> None:
    url, name = sys.argv[1], sys.argv[2]
    _config.update(url=url, name=name)
    socket.gethostname = lambda: f"limits-{name}"
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    runtime = build(url)
    runtime.start()
    print("ready", flush=True)
    stop.wait()
    runtime.shutdown()
    runtime.store.close()


if __name__ == "__main__":
    main()
