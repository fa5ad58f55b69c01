"""Measurement helpers shared by the per-system scenario code (runs in the child)."""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Callable

import psutil

# Re-exported: the scenario modules take it from here.
from bench.stats import latency_summary as latency_summary


class StartClock:
    """Records when each activity/step started (perf_counter, same process).

    Activities may run on worker threads; list.append is atomic under the GIL,
    so no lock is needed on the hot path.
    """

    def __init__(self) -> None:
        self.starts: list[float] = []

    def mark(self) -> None:
        self.starts.append(time.perf_counter())

    def reset(self) -> None:
        self.starts.clear()


class Counter:
    """A thread-safe count (activities may run on several threads at once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    def add(self) -> None:
        with self._lock:
            self._value += 1

    @property
    def value(self) -> int:
        return self._value


def rss_mb() -> float:
    return float(psutil.Process().memory_info().rss) / 1e6


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS; this suite targets Linux).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


def wait_until_quiet(
    max_cpu_fraction: float = 0.05, window_s: float = 0.5, timeout_s: float = 60.0
) -> bool:
    """Wait until this process uses under ``max_cpu_fraction`` of a core over a window.

    Used to decide that a runtime has finished starting idle instances before
    its memory is read. Returns False if it never went quiet (reported, not fatal).
    """
    proc = psutil.Process()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        before = proc.cpu_times()
        t0 = time.perf_counter()
        time.sleep(window_s)
        after = proc.cpu_times()
        busy = (after.user - before.user) + (after.system - before.system)
        if busy / (time.perf_counter() - t0) < max_cpu_fraction:
            return True
    return False


class Stopwatch:
    """perf_counter interval; a tiny class so scenario code reads top to bottom."""

    def __init__(self) -> None:
        self._t0 = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self._t0


def run_parallel(items: list[str], workers: int, fn: Callable[[str], float]) -> list[float]:
    """Call ``fn`` on every item from ``workers`` threads; return the values it gives.

    Plain threads rather than an executor so each worker can hold its own client.
    """
    results: list[float] = []
    lock = threading.Lock()
    it = iter(items)
    errors: list[BaseException] = []

    def worker() -> None:
        while True:
            with lock:
                item = next(it, None)
            if item is None or errors:
                return
            try:
                value = fn(item)
            except BaseException as exc:  # surfaced in the caller's thread below
                errors.append(exc)
                return
            with lock:
                results.append(value)

    threads = [threading.Thread(target=worker) for _ in range(max(1, workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results
