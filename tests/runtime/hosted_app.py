"""An application for the hosting tests: run as a script it calls
``runtime.run_forever()``; ``$HOSTED_DIR`` is where its activity leaves traces."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import outlast


def _dir() -> Path:
    return Path(os.environ["HOSTED_DIR"])


def slow_double(ctx: outlast.ActivityContext, n: int) -> int:
    """Says it started, then waits for the test's go-ahead."""
    (_dir() / "started").write_text(str(n))
    while not (_dir() / "release").exists():
        time.sleep(0.01)
    with (_dir() / "runs").open("a") as runs:
        runs.write(f"{n}\n")
    return 2 * n


def job(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, int]:
    result: int = yield ctx.call_activity(slow_double, input=n)
    return result


def make_runtime(store: str | None = None) -> outlast.WorkflowRuntime:
    """A runtime with this app's workflow; by default on ``$OUTLAST_STORE``."""
    rt = outlast.WorkflowRuntime(store, poll_interval=0.05)
    rt.register_activity(slow_double)
    rt.register_workflow(job)
    return rt


runtime = make_runtime()

if __name__ == "__main__":
    print("running", flush=True)
    runtime.run_forever()
    print("stopped cleanly", flush=True)
    sys.exit(0)
