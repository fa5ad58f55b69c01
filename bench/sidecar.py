"""S2 through the gRPC sidecar: N concurrent 10-step chains run by the real Dapr
Python SDK worker (its own process) against outlast's sidecar on SQLite with
durable defaults, in this process. Prints steps/s and the server's CPU per step.

    .venv/bin/python -m bench.sidecar [N]        (default 300)

Not part of ``make bench``'s runner yet; the in-memory durabletask backend of the
issue's comparison needs the Microsoft flavor, which the sidecar lacks so far.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import outlast
from outlast.grpc.server import SidecarServer

ROOT = Path(__file__).resolve().parents[1]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rt = outlast.WorkflowRuntime(store=f"sqlite:///{tmp}/s2.db")
        server = SidecarServer(rt, port=0)
        rt.start()
        server.start()
        worker = subprocess.Popen(
            [sys.executable, "-m", "bench.sidecar_app", str(server.port)], cwd=ROOT
        )
        try:
            while not server.hub.connected:
                time.sleep(0.05)
            client = rt.client()
            cpu0, t0 = _cpu(), time.perf_counter()
            ids = [client.schedule_new_workflow("chain10", input=0) for _ in range(count)]
            for iid in ids:
                state = client.wait_for_workflow_completion(iid, timeout_in_seconds=600)
                assert state is not None and state.serialized_output == "10", state
            wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
        finally:
            worker.terminate()
            worker.wait(30)
            server.stop()
            rt.shutdown()
    steps = count * 10
    print(f"S2 via the Dapr SDK: {count} chains x 10 steps on SQLite")
    print(f"  wall {wall:.2f} s, {steps / wall:.0f} steps/s")
    per_step = cpu / steps * 1e6
    print(f"  server CPU {cpu:.2f} s = {per_step:.0f} us per step (history encoding included)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
