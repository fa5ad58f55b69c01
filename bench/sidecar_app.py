"""The Dapr SDK worker of bench/sidecar.py: S2's 10-step chain as a Dapr workflow
(``python -m bench.sidecar_app PORT``)."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

import dapr.ext.workflow as wf

STEPS = 10


def step(ctx: wf.WorkflowActivityContext, n: int) -> int:
    return n + 1


def chain10(ctx: wf.DaprWorkflowContext, n: int) -> Any:
    for _ in range(STEPS):
        n = yield ctx.call_activity(step, input=n)
    return n


def main(port: str) -> None:
    runtime = wf.WorkflowRuntime(host="127.0.0.1", port=port)
    runtime.register_workflow(chain10)
    runtime.register_activity(step)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    runtime.start()
    stop.wait()
    runtime.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
