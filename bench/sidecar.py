"""S2 through the gRPC sidecar: N concurrent 10-step chains run by real SDK workers
against ``outlast serve`` on SQLite with durable defaults, and the same SDK run
against durabletask's own in-memory test backend.

Every party is a process of its own, as in production: the server (``outlast
serve``, or ``durabletask.testing``'s backend), one or two SDK worker processes,
and a driver that schedules and waits through the SDK's client over gRPC. The
runs:

- the Dapr Python SDK (``dapr[workflow]``) against outlast's Dapr port;
- the ``durabletask`` Python SDK against outlast's Microsoft port;
- the ``durabletask`` Python SDK against its in-memory backend (no persistence).

Each prints steps/s, the server process's CPU per step (everything it does:
gRPC, protobuf, history encoding, engine, store), the SDK workers' CPU per step,
and schedule → first activity latency: one workflow at a time on the idle
server, from the client's call to the activity's code running in the worker (so
it includes the SDK's own dispatch).

    .venv/bin/python -m bench.sidecar [--chains N] [--workers 1,2] [--probes 50]
        [--only dapr,durabletask,in-memory] [--profile PREFIX]

``--profile PREFIX`` samples outlast's server with py-spy (``--gil``, collapsed
stacks into ``PREFIX.<run>.txt``) during S2.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RUNS = {
    "dapr": "Dapr SDK -> outlast serve (SQLite)",
    "durabletask": "durabletask SDK -> outlast serve (SQLite)",
    "in-memory": "durabletask SDK -> durabletask.testing in-memory backend",
}


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
                raise RuntimeError("the server did not start") from None
            time.sleep(0.1)


def _server(run: str, tmp: str, port: int) -> subprocess.Popen[bytes]:
    if run == "in-memory":
        return subprocess.Popen([sys.executable, "-m", "bench.sidecar_dt", "backend", str(port)])
    ports = ["--grpc-port", str(port)]
    if run == "durabletask":
        ports = ["--grpc-port", "0", "--durabletask-port", str(port)]
    store = f"sqlite:///{tmp}/s2.db"
    http = ["--port", str(_free_port()), "--log-level", "warning", "--no-access-log"]
    return subprocess.Popen([str(BIN / "outlast"), "serve", "--store", store, *http, *ports])


def measure(
    schedule: Callable[[str, Any], str],
    wait: Callable[[str, int], Any],
    chains: int,
    probes: int,
    server: int,
    workers: list[int],
) -> dict[str, Any]:
    """S2 and the latency probes through an SDK's client, the same steps for each
    SDK: ``schedule(workflow, input)`` starts one and answers its instance ID,
    ``wait(instance ID, timeout)`` answers its final state (or None)."""
    seen: set[int] = set()
    deadline = time.monotonic() + 120
    while seen != set(workers):
        if time.monotonic() > deadline:
            raise RuntimeError(f"SDK workers not all connected: {seen} of {workers}")
        ids = [schedule("whoami", None) for _ in range(4 * len(workers))]
        for iid in ids:
            state = wait(iid, 60)
            assert state is not None and state.serialized_output is not None, state
            seen.add(int(state.serialized_output))
    cpu0, wcpu0 = _cpu(server), sum(_cpu(w) for w in workers)
    t0 = time.perf_counter()
    ids = [schedule("chain10", 0) for _ in range(chains)]
    for iid in ids:
        state = wait(iid, 600)
        assert state is not None and state.serialized_output == "10", state
    wall = time.perf_counter() - t0
    cpu, wcpu = _cpu(server) - cpu0, sum(_cpu(w) for w in workers) - wcpu0
    latencies = []
    for _ in range(probes):
        started = time.time()
        iid = schedule("first_activity", None)
        state = wait(iid, 60)
        assert state is not None and state.serialized_output is not None, state
        latencies.append((float(state.serialized_output) - started) * 1000)
    return {"wall": wall, "cpu": cpu, "wcpu": wcpu, "latencies": latencies}


def _drive_dapr(
    port: int, chains: int, probes: int, server: int, workers: list[int]
) -> dict[str, Any]:
    """The driver for the Dapr SDK, in this process (sidecar_dt's drives its own)."""
    from dapr.ext.workflow import DaprWorkflowClient

    client = DaprWorkflowClient(host="127.0.0.1", port=str(port))
    return measure(
        lambda name, input: client.schedule_new_workflow(name, input=input),
        lambda iid, timeout: client.wait_for_workflow_completion(iid, timeout_in_seconds=timeout),
        chains,
        probes,
        server,
        workers,
    )


def run(run: str, chains: int, nworkers: int, probes: int, profile: str | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        server = _server(run, tmp, port)
        _wait_listening(port, server)
        app = ["bench.sidecar_app"] if run == "dapr" else ["bench.sidecar_dt", "worker"]
        workers = [
            subprocess.Popen([sys.executable, "-m", *app, str(port)], cwd=ROOT)
            for _ in range(nworkers)
        ]
        spy = None
        try:
            if profile and run != "in-memory":
                out = f"{profile}.{run}.{nworkers}w.txt"
                cmd = ["py-spy", "record", "-r", "100", "-f", "raw", "-o", out, "--gil"]
                spy = subprocess.Popen([*cmd, "--pid", str(server.pid)])
            pids = [w.pid for w in workers]
            if run == "dapr":
                r = _drive_dapr(port, chains, probes, server.pid, pids)
            else:
                args = [str(x) for x in (port, chains, probes, server.pid, *pids)]
                out = subprocess.run(
                    [sys.executable, "-m", "bench.sidecar_dt", "drive", *args],
                    cwd=ROOT,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                r = json.loads(out.strip().splitlines()[-1])
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
            for w in workers:
                w.terminate()
            server.terminate()
            for p in (*workers, server):
                p.wait(30)
    steps = chains * 10
    latencies = r["latencies"]
    return {
        "steps_per_s": steps / r["wall"],
        "wall_s": r["wall"],
        "server_us_per_step": r["cpu"] / steps * 1e6,
        "sdk_us_per_step": r["wcpu"] / steps * 1e6,
        "first_activity_p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "first_activity_p90_ms": (
            statistics.quantiles(latencies, n=10)[-1] if len(latencies) > 1 else float("nan")
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--chains", type=int, default=300)
    parser.add_argument("--workers", default="1,2", help="SDK worker process counts")
    parser.add_argument("--probes", type=int, default=50, help="latency probes")
    parser.add_argument("--only", default=",".join(RUNS), help="which runs")
    parser.add_argument("--profile", metavar="PREFIX", help="py-spy outlast into PREFIX.*")
    args = parser.parse_args()
    print(f"S2: {args.chains} chains x 10 steps; server and SDK workers in processes of their own")
    for name in args.only.split(","):
        print(RUNS[name])
        for n in (int(x) for x in args.workers.split(",")):
            r = run(name, args.chains, n, args.probes, args.profile)
            print(
                f"  {n} SDK worker process{'es' if n > 1 else ''}: "
                f"{r['steps_per_s']:.0f} steps/s ({r['wall_s']:.2f} s); "
                f"server CPU {r['server_us_per_step']:.0f} us/step, "
                f"SDK workers {r['sdk_us_per_step']:.0f} us/step; "
                f"schedule -> first activity p50 {r['first_activity_p50_ms']:.1f} ms "
                f"(p90 {r['first_activity_p90_ms']:.1f} ms)",
                flush=True,
            )


if __name__ == "__main__":
    main()
