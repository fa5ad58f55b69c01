"""Extra outlast worker processes on one PostgreSQL database, for the scale-out figures.

A worker process is ``python -m bench.pg_workers URL``: it builds a runtime with
the benchmark's workflows and activities (``outlast_impl.build_runtime``, the same
code the measuring process registers), starts it (``with rt:``), makes sure its
LISTEN connection hears notifications, prints ``ready`` and then runs until its
stdin is closed. It then leaves the ``with`` block (a clean ``shutdown()``) and
prints one JSON line: how many activities it ran.

The measuring process uses ``ExtraWorkers``: it starts them all, waits until every
one is ready before anything is timed, and stops them after, failing loudly if a
worker died or did not stop in time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from types import TracebackType
from typing import Any

import psycopg

from bench.config import REPO

CHANNEL = "outlast_changes"  # the PostgreSQL store's notification channel
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 120.0


def wait_listening(store: Any, url: str, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Return once ``store``'s LISTEN connection delivers a notification.

    ``runtime.start()`` returns before the store's listener thread has connected;
    until it has, this process would only see other processes' commits by
    polling. So send notifications on the store's channel (as a commit elsewhere
    would) until one arrives. The payload names no instance of ours, but says
    "anything may have changed" (``*``), so it wakes idle workers and nothing else.
    """
    heard = threading.Event()

    def on_change() -> None:
        heard.set()

    store.add_listener(on_change)
    try:
        deadline = time.monotonic() + timeout_s
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            while not heard.is_set():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the store's listener heard nothing in {timeout_s:.0f} s")
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, "bench-ready|*"))
                heard.wait(0.05)
    finally:
        store.remove_listener(on_change)


class ExtraWorkers:
    """``count`` worker processes on ``url``, ready on entry, stopped on exit."""

    def __init__(self, url: str, count: int) -> None:
        self.url = url
        self.count = count
        self.procs: list[subprocess.Popen[str]] = []
        self.activity_runs: list[int] = []

    def __enter__(self) -> ExtraWorkers:
        try:
            # Started together, then awaited: their imports and connects overlap.
            for _ in range(self.count):
                self.procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "bench.pg_workers", self.url],
                        cwd=REPO,
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        # stderr is inherited: worker logs land in the run's log file.
                        text=True,
                    )
                )
            for i, proc in enumerate(self.procs):
                assert proc.stdout is not None
                line = proc.stdout.readline().strip()
                if line != "ready":
                    raise RuntimeError(
                        f"extra worker {i + 1} did not get ready (said {line!r}, "
                        f"exit status {proc.poll()}); see the run's log"
                    )
        except BaseException:
            self._kill()
            raise
        print(f"{self.count} extra worker process(es) ready", file=sys.stderr, flush=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._stop()
        except BaseException:
            self._kill()
            if exc is None:
                raise

    def _stop(self) -> None:
        """Close every worker's stdin (its signal to shut down), then collect them."""
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.close()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for i, proc in enumerate(self.procs):
            # A worker writes one short line after "ready", far below a pipe's
            # buffer, so waiting before reading cannot deadlock.
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            assert proc.stdout is not None
            out = proc.stdout.read()
            if proc.returncode != 0:
                raise RuntimeError(f"extra worker {i + 1} exited with status {proc.returncode}")
            report = json.loads(out.strip().splitlines()[-1])
            self.activity_runs.append(int(report["activity_runs"]))

    def _kill(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def main(argv: list[str]) -> int:
    from bench import outlast_impl

    (url,) = argv
    rt, _ = outlast_impl.build_runtime(url)
    with rt:
        wait_listening(rt.store, url)
        print("ready", flush=True)
        # Block until the measuring process closes our stdin (or dies).
        sys.stdin.read()
    # Outside the with block: shutdown() has committed the last results.
    print(json.dumps({"activity_runs": outlast_impl.RUNS.value}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
