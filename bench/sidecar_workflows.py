"""S2's 10-step chain and the probes of bench/sidecar.py, for either SDK's worker
(``sidecar_app.py``: Dapr's; ``sidecar_dt.py``: durabletask's). Both SDKs call a
workflow with a context whose ``call_activity`` is alike, so it is written once;
this module imports neither SDK (their protos cannot share a process)."""

from __future__ import annotations

import os
import time
from typing import Any

STEPS = 10


def step(ctx: Any, n: int) -> int:
    return n + 1


def chain10(ctx: Any, n: int) -> Any:
    for _ in range(STEPS):
        n = yield ctx.call_activity(step, input=n)
    return n


def clock(ctx: Any, _: Any) -> float:
    """When the first activity's code ran (the latency probe's end point)."""
    return time.time()


def first_activity(ctx: Any, _: Any) -> Any:
    return (yield ctx.call_activity(clock))


def pid(ctx: Any, _: Any) -> int:
    return os.getpid()


def whoami(ctx: Any, _: Any) -> Any:
    """Which worker process ran its activity (the bench waits until all are up)."""
    return (yield ctx.call_activity(pid))


WORKFLOWS = (chain10, first_activity, whoami)
ACTIVITIES = (step, clock, pid)
