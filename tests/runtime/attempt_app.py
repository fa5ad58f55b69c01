"""The workload of test_attempts.py: an activity that fails its first attempt and
hangs in its second (the test kills the process then); the third succeeds."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import outlast

STORE = sys.argv[1]
SIDE_FILE = sys.argv[2]

runtime = outlast.WorkflowRuntime(STORE, poll_interval=0.05)


@runtime.activity
def step(ctx: outlast.ActivityContext) -> int:
    with open(SIDE_FILE, "a") as f:
        f.write(f"{ctx.attempt}\n")
        f.flush()
        os.fsync(f.fileno())
    if ctx.attempt == 1:
        raise ConnectionError("blip")
    if ctx.attempt == 2:
        time.sleep(3600)  # killed here
    return ctx.attempt


@runtime.workflow
def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, int]:
    policy = outlast.RetryPolicy(timedelta(milliseconds=10), 5)
    return (yield ctx.call_activity(step, retry_policy=policy))


if __name__ == "__main__":
    client = outlast.WorkflowClient(STORE)
    with runtime:
        if client.get_workflow_state("attempts") is None:
            client.schedule_new_workflow(wf, instance_id="attempts")
        state = client.wait_for_workflow_completion("attempts", timeout_in_seconds=60)
        assert state is not None
        print(state.runtime_status.value, state.serialized_output, flush=True)
