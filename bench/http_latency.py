"""HTTP: the latency of ``outlast serve`` answering one keep-alive client.

A real ``outlast serve`` process (the bundled examples, on a fresh SQLite file)
and one ``httpx`` client on one keep-alive connection: GET the status of a
finished instance, one request at a time, and time each. This is where Nagle's
algorithm shows: without TCP_NODELAY on the server's connections each answer
waits for the client's delayed ACK, some 40 ms, instead of well under one.

Run by ``make bench SCENARIOS=HTTP`` (scenario HTTP, outlast only: DBOS has no
HTTP API), or on its own: ``python -m bench.http_latency [REQUESTS]``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.config import Sizes
from bench.stats import latency_summary

API = "/v1.0/workflows/dapr"
ORDER = b'{"Name":"Paperclips","Quantity":1,"TotalCost":9.95}'
WARM_UP = 50
OUTLAST_SERVE = (sys.executable, "-m", "outlast.cli", "serve", "--log-level", "warning")


def _serve(db_path: str) -> tuple[subprocess.Popen[str], str]:
    """``outlast serve`` on a free port, and its URL (read from its banner)."""
    proc = subprocess.Popen(
        [*OUTLAST_SERVE, "--store", f"sqlite:///{db_path}", "--port", "0", "--no-access-log"],
        stdout=subprocess.DEVNULL,  # the examples' activities print
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if " serving " in line:
            return proc, line.rsplit(" on ", 1)[1].strip()
    proc.wait()
    raise RuntimeError(f"outlast serve did not start (exit status {proc.returncode})")


def http_latency(db_path: str, sizes: Sizes) -> dict[str, float]:
    """p50/p99 of GET status over one keep-alive connection."""
    proc, url = _serve(db_path)
    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            started = http.post(
                f"{API}/OrderProcessingWorkflow/start", params={"instanceID": "b"}, content=ORDER
            )
            started.raise_for_status()
            done = http.get(f"{API}/b/waitForCompletion", params={"timeout": "60"})
            if done.json()["runtimeStatus"] != "COMPLETED":
                raise RuntimeError(f"the instance did not complete: {done.text}")
            samples: list[float] = []
            for n in range(WARM_UP + sizes.http_requests):
                t0 = time.perf_counter()
                answer = http.get(f"{API}/b")
                elapsed = time.perf_counter() - t0
                answer.raise_for_status()
                if n >= WARM_UP:
                    samples.append(elapsed)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    return {"requests": len(samples), **latency_summary(samples)}


def main(argv: list[str]) -> int:
    requests = int(argv[0]) if argv else Sizes().http_requests
    with tempfile.TemporaryDirectory(prefix="outlast-http-") as work:
        figures = http_latency(str(Path(work) / "http.db"), Sizes(http_requests=requests))
    print(
        f"GET status, keep-alive, {figures['requests']:.0f} requests: "
        f"p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
