"""The workload of test_crash.py, run in a subprocess that the test kills."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Generator
from typing import Any

import outlast

STORE = sys.argv[1]
SIDE_FILE = sys.argv[2]

runtime = outlast.WorkflowRuntime(STORE, max_concurrent_activities=4, poll_interval=0.05)


@runtime.activity
def process(ctx: outlast.ActivityContext, item: int) -> int:
    time.sleep(0.02)
    # One line per execution, flushed before the result can be committed.
    with open(SIDE_FILE, "a") as f:
        f.write(f"{item}\n")
        f.flush()
        os.fsync(f.fileno())
    return item * 2


@runtime.workflow
def fan_out(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, int]:
    results = yield outlast.when_all([ctx.call_activity(process, input=i) for i in range(n)])
    return sum(results)


if __name__ == "__main__":
    client = outlast.WorkflowClient(STORE)
    with runtime:
        if client.get_workflow_state("crash") is None:
            client.schedule_new_workflow(fan_out, input=100, instance_id="crash")
        state = client.wait_for_workflow_completion("crash", timeout_in_seconds=120)
        assert state is not None
        print(state.runtime_status.value, state.serialized_output, flush=True)
