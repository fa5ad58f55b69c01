"""S2 through the Microsoft durabletask Python SDK: N concurrent 10-step chains run
by the real SDK worker (a process of its own), started and awaited by the SDK's
client, against (1) outlast's Microsoft-flavor port on SQLite with durable
defaults, in this process, and (2) durabletask's own in-memory test backend
(``durabletask.testing``, no persistence, a process of its own), same SDK, same
run. Prints steps/s and each server's CPU per step.

    .venv/bin/python -m bench.sidecar_durabletask [N]        (default 300)
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from durabletask import client as dt_client

import outlast
from outlast.grpc.flavor import DURABLETASK
from outlast.grpc.server import SidecarServer

ROOT = Path(__file__).resolve().parents[1]
APP = "bench.sidecar_durabletask_app"


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _spawn(role: str, port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", APP, role, str(port)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(30)
    assert proc.stdout is not None
    proc.stdout.close()


def _run(port: int, count: int, cpu: Callable[[], float]) -> tuple[float, float]:
    """Wall seconds and server CPU seconds for ``count`` chains through the SDK."""
    worker = _spawn("worker", port)
    c = dt_client.TaskHubGrpcClient(host_address=f"localhost:{port}")
    try:
        warm = c.schedule_new_orchestration("chain10", input=0)
        c.wait_for_orchestration_completion(warm, timeout=60)
        cpu0, t0 = cpu(), time.perf_counter()
        # Scheduled from a few threads; awaited one at a time: the in-memory
        # backend's thread pool is small and each wait holds one of its threads.
        with ThreadPoolExecutor(4) as pool:
            ids = list(
                pool.map(lambda _: c.schedule_new_orchestration("chain10", input=0), range(count))
            )
        states = [c.wait_for_orchestration_completion(i, timeout=600) for i in ids]
        wall, used = time.perf_counter() - t0, cpu() - cpu0
        assert all(s is not None and s.serialized_output == "10" for s in states), states[:3]
        return wall, used
    finally:
        c.close()
        _stop(worker)


def _outlast(count: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        rt = outlast.WorkflowRuntime(store=f"sqlite:///{tmp}/s2.db")
        server = SidecarServer(rt, port=0, flavor=DURABLETASK)
        rt.start()
        server.start()
        try:
            return _run(server.port, count, _self_cpu)
        finally:
            server.stop()
            rt.shutdown()


def _in_memory(count: int) -> tuple[float, float]:
    port = _free_port()
    backend = _spawn("backend", port)
    try:
        return _run(port, count, lambda: _proc_cpu(backend.pid))
    finally:
        _stop(backend)


def main(count: int) -> None:
    steps = count * 10
    print(f"S2 via the durabletask SDK: {count} chains x 10 steps")
    for name, run in (("outlast (SQLite, durable)", _outlast), ("in-memory backend", _in_memory)):
        wall, cpu = run(count)
        print(
            f"  {name:26} {steps / wall:6.0f} steps/s, server CPU {cpu / steps * 1e6:5.0f} us/step"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
