"""Watches running activity attempts for a missed heartbeat or a passed deadline.

An attempt with a ``heartbeat_timeout`` that goes that long without
``ctx.heartbeat()`` fails here, on the worker that runs it, as ActivityTimeoutError
(carrying the details of its last heartbeat); the retry policy then applies in the
workflow. At its ``start_to_close_timeout`` an attempt is only cancelled here
(``ctx.is_cancelled``, async activities cancelled): the durable timer in the
workflow's history fails it, on whichever worker, even after a restart. If this
worker dies, its lease expires and the attempt runs again elsewhere.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from outlast.core.context import ActivityContext
from outlast.core.serialization import from_json
from outlast.store.base import ActivityRecord

# How often the watch looks, at most and at least.
_FASTEST, _SLOWEST = 0.02, 0.5


@dataclass(frozen=True, slots=True)
class CallOptions:
    """An activity row's options (``ActivityRecord.options``), decoded."""

    heartbeat_timeout: float | None = None
    start_to_close_timeout: float | None = None
    heartbeat_details: Any = None

    @classmethod
    def parse(cls, text: str | None) -> CallOptions:
        if not text:
            return _NONE
        try:
            doc = json.loads(text)
        except ValueError:
            return _NONE
        if not isinstance(doc, dict):
            return _NONE
        details = doc.get("heartbeat_details")
        return cls(
            _seconds(doc.get("heartbeat_timeout")),
            _seconds(doc.get("start_to_close_timeout")),
            from_json(details) if isinstance(details, str) else None,
        )


_NONE = CallOptions()


def _seconds(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    return float(value) if ok else None


@dataclass(slots=True)
class _Watched:
    record: ActivityRecord
    ctx: ActivityContext
    options: CallOptions
    started: float
    cancel: Callable[[], object] | None = None


class HeartbeatWatch:
    """One thread per executor, started by the first attempt that needs it."""

    def __init__(self, on_missed: Callable[[ActivityRecord, ActivityContext], None]) -> None:
        self._on_missed = on_missed
        self._watched: dict[tuple[str, int], _Watched] = {}
        self._failed: set[tuple[str, int]] = set()  # failed here, outcome still to come
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def watch(self, record: ActivityRecord, ctx: ActivityContext, options: CallOptions) -> None:
        entry = _Watched(record, ctx, options, time.monotonic())
        with self._lock:
            self._watched[(record.instance_id, record.task_id)] = entry
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="outlast-heartbeats", daemon=True
                )
                self._thread.start()
        # The watch looks at least every _SLOWEST seconds; waking it for every
        # attempt would cost each one a thread switch, so only a shorter timeout does.
        timeouts = (options.heartbeat_timeout, options.start_to_close_timeout)
        if min(t for t in timeouts if t is not None) < _SLOWEST:
            self._wake.set()

    def on_cancel(self, record: ActivityRecord, cancel: Callable[[], object]) -> None:
        """What cancels the attempt (an async activity's future)."""
        with self._lock:
            entry = self._watched.get((record.instance_id, record.task_id))
            if entry is not None:
                entry.cancel = cancel

    def finished(self, instance_id: str, task_id: int) -> bool:
        """Stop watching an attempt that returned; False when it had already been
        failed here (its outcome is then dropped)."""
        key = (instance_id, task_id)
        with self._lock:
            self._watched.pop(key, None)
            if key in self._failed:
                self._failed.discard(key)
                return False
            return True

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    def _run(self) -> None:
        while not self._stopped:
            self._wake.clear()
            self._wake.wait(self._check())

    def _check(self) -> float:
        """Fail and cancel what is due; the time until the next look."""
        now = time.monotonic()
        wait = _SLOWEST
        missed: list[_Watched] = []
        with self._lock:
            for key, entry in list(self._watched.items()):
                o = entry.options
                if o.heartbeat_timeout is not None:
                    due = entry.ctx._last_beat + o.heartbeat_timeout
                    if now >= due:
                        del self._watched[key]
                        self._failed.add(key)
                        missed.append(entry)
                        continue
                    wait = min(wait, due - now)
                if o.start_to_close_timeout is not None and not entry.ctx.is_cancelled:
                    due = entry.started + o.start_to_close_timeout
                    if now >= due:
                        _cancel(entry)
                    else:
                        wait = min(wait, due - now)
        for entry in missed:
            _cancel(entry)
            self._on_missed(entry.record, entry.ctx)
        return max(_FASTEST, wait)


def _cancel(entry: _Watched) -> None:
    entry.ctx._cancel()
    if entry.cancel is not None:
        entry.cancel()
