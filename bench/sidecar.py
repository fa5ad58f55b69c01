"""S2 through the gRPC sidecar: N concurrent 10-step chains run by the real Dapr
Python SDK worker against ``outlast serve`` on SQLite with durable defaults.

Every party is a process of its own, as in production: ``outlast serve`` (the
sidecar), one or two SDK worker processes (``bench/sidecar_app.py``), and this
driver, which schedules and waits through the SDK's ``DaprWorkflowClient`` over
gRPC. Prints, per worker count: steps/s, the server process's CPU per step
(everything it does: gRPC, protobuf, history encoding, engine, store) and the
SDK workers' CPU per step; then schedule → first activity latency, one workflow
at a time on the idle server (from the client's call to the activity's code
running in the worker, so it includes the SDK's own dispatch).

    .venv/bin/python -m bench.sidecar [--chains N] [--workers 1,2] [--probes 50]

``--profile PREFIX`` samples the server with py-spy during S2 (collapsed stacks).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dapr.ext.workflow import DaprWorkflowClient

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_listening(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("outlast serve did not start") from None
            time.sleep(0.1)


def _wait_workers(client: DaprWorkflowClient, workers: list[subprocess.Popen[bytes]]) -> None:
    """Until every worker process has run an activity (its stream is open)."""
    want = {w.pid for w in workers}
    seen: set[int] = set()
    deadline = time.monotonic() + 120
    while seen != want:
        if time.monotonic() > deadline:
            raise RuntimeError(f"SDK workers not all connected: {seen} of {want}")
        ids = [client.schedule_new_workflow("whoami") for _ in range(4 * len(want))]
        for iid in ids:
            state = client.wait_for_workflow_completion(iid, timeout_in_seconds=60)
            assert state is not None and state.serialized_output is not None, state
            seen.add(int(state.serialized_output))


def run(chains: int, nworkers: int, probes: int, profile: str | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        grpc_port = _free_port()
        server = subprocess.Popen(
            [
                str(BIN / "outlast"),
                "serve",
                "--store",
                f"sqlite:///{tmp}/s2.db",
                "--port",
                str(_free_port()),
                "--grpc-port",
                str(grpc_port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=tmp,
        )
        _wait_listening(grpc_port, server)
        workers = [
            subprocess.Popen([sys.executable, "-m", "bench.sidecar_app", str(grpc_port)], cwd=ROOT)
            for _ in range(nworkers)
        ]
        client = DaprWorkflowClient(host="127.0.0.1", port=str(grpc_port))
        try:
            _wait_workers(client, workers)
            spy = None
            if profile:  # py-spy's raw (collapsed) stacks of the server during S2
                out = f"{profile}.{nworkers}w.txt"
                cmd = ["py-spy", "record", "-r", "100", "-f", "raw", "-o", out, "--gil"]
                spy = subprocess.Popen([*cmd, "--pid", str(server.pid)])
                time.sleep(1)
            cpu0 = _cpu(server.pid)
            wcpu0 = sum(_cpu(w.pid) for w in workers)
            t0 = time.perf_counter()
            ids = [client.schedule_new_workflow("chain10", input=0) for _ in range(chains)]
            for iid in ids:
                state = client.wait_for_workflow_completion(iid, timeout_in_seconds=600)
                assert state is not None and state.serialized_output == "10", state
            wall = time.perf_counter() - t0
            cpu = _cpu(server.pid) - cpu0
            wcpu = sum(_cpu(w.pid) for w in workers) - wcpu0
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
            latencies = []
            for _ in range(probes):
                started = time.time()
                iid = client.schedule_new_workflow("first_activity")
                state = client.wait_for_workflow_completion(iid, timeout_in_seconds=60)
                assert state is not None and state.serialized_output is not None, state
                latencies.append((float(state.serialized_output) - started) * 1000)
        finally:
            for w in workers:
                w.terminate()
            server.terminate()
            for p in (*workers, server):
                p.wait(30)
    steps = chains * 10
    return {
        "steps_per_s": steps / wall,
        "wall_s": wall,
        "server_us_per_step": cpu / steps * 1e6,
        "sdk_us_per_step": wcpu / steps * 1e6,
        "first_activity_p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "first_activity_p90_ms": (
            statistics.quantiles(latencies, n=10)[-1] if len(latencies) > 1 else float("nan")
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=300)
    parser.add_argument("--workers", default="1,2", help="SDK worker process counts")
    parser.add_argument("--probes", type=int, default=50, help="latency probes")
    parser.add_argument("--profile", metavar="PREFIX", help="py-spy the server into PREFIX.*")
    args = parser.parse_args()
    print(f"S2 via the Dapr SDK: {args.chains} chains x 10 steps, outlast serve on SQLite")
    for n in (int(x) for x in args.workers.split(",")):
        r = run(args.chains, n, args.probes, args.profile)
        print(
            f"  {n} SDK worker process{'es' if n > 1 else ''}: "
            f"{r['steps_per_s']:.0f} steps/s ({r['wall_s']:.2f} s); "
            f"server CPU {r['server_us_per_step']:.0f} us/step, "
            f"SDK workers {r['sdk_us_per_step']:.0f} us/step; "
            f"schedule -> first activity p50 {r['first_activity_p50_ms']:.1f} ms "
            f"(p90 {r['first_activity_p90_ms']:.1f} ms)"
        )


if __name__ == "__main__":
    main()
