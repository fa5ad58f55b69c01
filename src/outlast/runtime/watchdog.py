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

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

_OUTLAST_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

log = logging.getLogger("outlast.worker")


class Watchdog:
    """Watches the turn in progress; calls ``on_stuck(instance_id, where)`` once per
    stuck turn, from its own thread.

    Rounds run one at a time (the worker's round lock), so one turn at most is in
    progress: ``begin`` and ``end`` only set two attributes, which costs a turn
    next to nothing. The watchdog samples them: the same turn seen for longer than
    the timeout is stuck. A turn seen for a quarter of the timeout is warned about
    first (once), with the line it is on: blocking code shows up before it stalls.
    """

    def __init__(self, timeout: float, on_stuck: Callable[[str, str], None]) -> None:
        self.timeout = timeout
        self._on_stuck = on_stuck
        self.instance_id: str | None = None  # whose turn runs now
        self.thread_id = 0  # the thread running it
        self.turns = 0  # turns begun, to tell one long turn from many short ones
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="outlast-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def begin(self, instance_id: str, thread_id: int) -> None:
        self.turns += 1
        self.thread_id = thread_id
        self.instance_id = instance_id

    def end(self) -> None:
        self.instance_id = None

    def _watch(self) -> None:
        interval = max(0.01, min(self.timeout / 8, 0.5))
        seen: tuple[int, str] | None = None
        since = 0.0
        warned = False
        while not self._stop.wait(interval):
            turns, instance_id, thread_id = self.turns, self.instance_id, self.thread_id
            if instance_id is None:
                seen = None
                continue
            if seen != (turns, instance_id):
                seen, since, warned = (turns, instance_id), time.monotonic(), False
                continue
            elapsed = time.monotonic() - since
            if not warned and elapsed > self.timeout / 4:
                warned = True
                _warn_slow(instance_id, elapsed, self.timeout, where_stuck(thread_id))
            if elapsed > self.timeout:
                seen = (turns, "")  # reported; wait for the next turn
                self._on_stuck(instance_id, where_stuck(thread_id))


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


def _warn_slow(instance_id: str, elapsed: float, timeout: float, where: str) -> None:
    log.warning(
        "a turn of workflow instance %s has run for %.2fs, at %s: workflow code must not "
        "block (time.sleep, blocking I/O, long loops); wait with ctx.create_timer and do "
        "I/O in activities. After %gs (deadlock_timeout) the instance is STALLED",
        instance_id,
        elapsed,
        where,
        timeout,
        extra={"instance_id": instance_id, "where": where},
    )
