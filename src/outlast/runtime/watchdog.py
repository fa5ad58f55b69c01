"""Deadlock detection for workflow code: a turn that runs too long is abandoned.

Workflow code must not block: an infinite loop, ``time.sleep`` or a blocking call in
a turn would otherwise freeze every workflow of the runtime, since one thread runs
the turns. Python cannot stop a thread, so the watchdog does what Temporal's Python
SDK does: when a turn has run longer than the deadlock timeout, it reports the
instance and the line its code is stuck on, and the worker carries on without
that thread (which is left to finish or hang on its own; whatever it computes is
thrown away).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

_OUTLAST_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(slots=True)
class _Running:
    instance_id: str
    thread_id: int
    started: float


class Watchdog:
    """Watches the turn in progress; calls ``on_stuck(instance_id, where)`` once per
    stuck turn, from its own thread."""

    def __init__(self, timeout: float, on_stuck: Callable[[str, str], None]) -> None:
        self.timeout = timeout
        self._on_stuck = on_stuck
        self._lock = threading.Lock()
        self._running: dict[int, _Running] = {}  # by thread ID
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="outlast-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def begin(self, instance_id: str) -> None:
        tid = threading.get_ident()
        entry = _Running(instance_id, tid, time.monotonic())
        with self._lock:
            self._running[tid] = entry

    def end(self) -> None:
        with self._lock:
            self._running.pop(threading.get_ident(), None)

    def _watch(self) -> None:
        interval = max(0.01, min(self.timeout / 4, 1.0))
        while not self._stop.wait(interval):
            now = time.monotonic()
            with self._lock:
                stuck = [r for r in self._running.values() if now - r.started > self.timeout]
                for r in stuck:
                    del self._running[r.thread_id]
            for r in stuck:
                self._on_stuck(r.instance_id, where_stuck(r.thread_id))


def where_stuck(thread_id: int) -> str:
    """``file:line`` (and the function) of the innermost frame of ``thread_id`` that
    is not outlast's own code: the line the workflow is stuck on."""
    frame: FrameType | None = sys._current_frames().get(thread_id)
    innermost = None
    while frame is not None:
        filename = frame.f_code.co_filename
        if not os.path.abspath(filename).startswith(_OUTLAST_DIR) or "examples" in filename:
            innermost = frame
            break
        frame = frame.f_back
    if innermost is None:
        return "an unknown line"
    code = innermost.f_code
    return f"{code.co_filename}:{innermost.f_lineno} in {code.co_name}"
