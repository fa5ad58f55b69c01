"""A clock that moves only when a test moves it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from outlast.core.times import from_seconds


class FakeClock:
    def __init__(self, start: datetime | float | None = None) -> None:
        if start is None:
            start = datetime(2030, 1, 1, tzinfo=UTC)
        self._now = start.timestamp() if isinstance(start, datetime) else float(start)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def now_ns(self) -> int:
        return from_seconds(self.now())

    def add_listener(self, fn: Callable[[], None]) -> None:
        with self._lock:
            self._listeners.append(fn)

    def advance(self, delta: timedelta | float) -> None:
        """Move time forward and wake the runtimes using this clock."""
        seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self._lock:
            self._now += seconds
            listeners = list(self._listeners)
        for fn in listeners:
            fn()

    def advance_to(self, when: datetime | float) -> None:
        """Move time forward to ``when`` (a time, or seconds since the epoch); a
        time already past leaves the clock as it is."""
        target = when.timestamp() if isinstance(when, datetime) else float(when)
        with self._lock:
            if target <= self._now:
                return
            self._now = target
            listeners = list(self._listeners)
        for fn in listeners:
            fn()

    def utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)
