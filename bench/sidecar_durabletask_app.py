"""The processes of bench/sidecar_durabletask.py (each ``python -m`` this module):

- ``worker PORT``: the durabletask SDK worker with S2's 10-step chain;
- ``backend PORT``: durabletask's own in-memory test backend (no persistence).
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from durabletask import task, worker
from durabletask.testing import InMemoryOrchestrationBackend

STEPS = 10


def step(ctx: task.ActivityContext, n: int) -> int:
    return n + 1


def chain10(ctx: task.OrchestrationContext, n: int) -> Any:
    for _ in range(STEPS):
        n = yield ctx.call_activity(step, input=n)
    return n


def main(role: str, port: str) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if role == "backend":
        backend = InMemoryOrchestrationBackend(port=int(port))
        backend.start()
        print("ready", flush=True)
        stop.wait()
        backend.stop()
        return
    w = worker.TaskHubGrpcWorker(host_address=f"localhost:{port}")
    w.add_orchestrator(chain10)
    w.add_activity(step)
    w.start()
    print("ready", flush=True)
    stop.wait()
    w.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
