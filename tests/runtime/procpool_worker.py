"""A worker process for test_procpool.py: it starts a workflow whose isolated
activity hangs, then waits (the test SIGKILLs it)."""

from __future__ import annotations

import sys
import time
from collections.abc import Generator
from typing import Any

import outlast
from tests.runtime import procpool_app as app

runtime = outlast.WorkflowRuntime(sys.argv[1], poll_interval=0.05)
runtime.register_activity(app.hang, isolation="process")


@runtime.workflow
def stuck(ctx: outlast.WorkflowContext, side: str) -> Generator[Any, Any, Any]:
    return (yield ctx.call_activity("hang", input=side))


if __name__ == "__main__":
    with runtime:
        runtime.client().schedule_new_workflow(stuck, input=sys.argv[2])
        time.sleep(600)
