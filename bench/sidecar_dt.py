"""The durabletask SDK side of bench/sidecar.py, each part a process of its own
(its protos cannot share a process with the Dapr SDK's):

    python -m bench.sidecar_dt backend PORT       durabletask's in-memory test backend
    python -m bench.sidecar_dt worker PORT        the SDK worker: S2's chain and probes
    python -m bench.sidecar_dt drive PORT CHAINS PROBES SERVER_PID WORKER_PID...

``drive`` waits until every worker runs activities, runs S2 and the latency
probes through ``TaskHubGrpcClient`` and prints the figures as one JSON line.
"""

from __future__ import annotations

import json
import signal
import sys
import threading

from durabletask import client as dt_client
from durabletask import worker as dt_worker

from bench.sidecar import measure
from bench.sidecar_workflows import ACTIVITIES, WORKFLOWS


def _until_stopped() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()


def backend(port: int) -> None:
    from durabletask.testing import create_test_backend

    server = create_test_backend(port=port)
    _until_stopped()
    server.stop()


def worker(port: int) -> None:
    w = dt_worker.TaskHubGrpcWorker(host_address=f"127.0.0.1:{port}")
    for o in WORKFLOWS:
        w.add_orchestrator(o)
    for a in ACTIVITIES:
        w.add_activity(a)
    w.start()
    _until_stopped()
    w.stop()


def drive(port: int, chains: int, probes: int, server: int, workers: list[int]) -> None:
    c = dt_client.TaskHubGrpcClient(host_address=f"127.0.0.1:{port}")
    r = measure(
        lambda name, input: c.schedule_new_orchestration(name, input=input),
        lambda iid, timeout: c.wait_for_orchestration_completion(iid, timeout=timeout),
        chains,
        probes,
        server,
        workers,
    )
    print(json.dumps(r))


if __name__ == "__main__":
    what, port = sys.argv[1], int(sys.argv[2])
    if what == "backend":
        backend(port)
    elif what == "worker":
        worker(port)
    else:
        rest = [int(x) for x in sys.argv[3:]]
        drive(port, rest[0], rest[1], rest[2], rest[3:])
