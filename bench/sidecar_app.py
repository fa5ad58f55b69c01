"""The Dapr SDK worker of bench/sidecar.py: S2's 10-step chain as a Dapr workflow,
plus the probes the bench uses (``python -m bench.sidecar_app PORT``)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any

import dapr.ext.workflow as wf

STEPS = 10


def step(ctx: wf.WorkflowActivityContext, n: int) -> int:
    return n + 1


def chain10(ctx: wf.DaprWorkflowContext, n: int) -> Any:
    for _ in range(STEPS):
        n = yield ctx.call_activity(step, input=n)
    return n


def clock(ctx: wf.WorkflowActivityContext, _: Any) -> float:
    """When the first activity's code ran (the latency probe's end point)."""
    return time.time()


def first_activity(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
    return (yield ctx.call_activity(clock))


def pid(ctx: wf.WorkflowActivityContext, _: Any) -> int:
    return os.getpid()


def whoami(ctx: wf.DaprWorkflowContext, _: Any) -> Any:
    """Which worker process ran its activity (the bench waits until all are up)."""
    return (yield ctx.call_activity(pid))


def main(port: str) -> None:
    runtime = wf.WorkflowRuntime(host="127.0.0.1", port=port)
    for w in (chain10, first_activity, whoami):
        runtime.register_workflow(w)
    for a in (step, clock, pid):
        runtime.register_activity(a)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    runtime.start()
    stop.wait()
    runtime.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
