"""What both SDK apps of tests/grpc run alike (``dapr_app.py``, ``durabletask_app.py``):
activities, and the chain, whose context's ``call_activity`` is the same in both
SDKs. It imports neither SDK (their protos cannot share a process)."""

from __future__ import annotations

import os
import time
from typing import Any


def hello(ctx: Any, name: str) -> str:
    return f"Hello {name}!"


def square(ctx: Any, n: int) -> int:
    return n * n


def cube(ctx: Any, n: int) -> int:
    return n * n * n


def slow_item(ctx: Any, n: int) -> int:
    """Notes each run in $OUTLAST_TEST_RUNS (for the fault tests), then takes a while."""
    with open(os.environ["OUTLAST_TEST_RUNS"], "a") as runs:
        runs.write(f"{n}\n")
    time.sleep(0.3)
    return n


def chain(ctx: Any, _: Any) -> Any:
    a = yield ctx.call_activity(hello, input="Tokyo")
    b = yield ctx.call_activity(hello, input="Seattle")
    c = yield ctx.call_activity(hello, input="London")
    return [a, b, c]
