"""Time, injected: the runtime and client read the clock only through a ``Clock``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from outlast.core.times import from_seconds


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (UTC)."""
        ...

    def now_ns(self) -> int:
        """Nanoseconds since the epoch (UTC): what history times are made of."""
        ...

    def add_listener(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` whenever time jumps (only test clocks jump)."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def now_ns(self) -> int:
        return time.time_ns()

    def add_listener(self, fn: Callable[[], None]) -> None:
        pass  # wall time never jumps under the runtime's feet on purpose


SYSTEM_CLOCK = SystemClock()


def now_ns(clock: Clock) -> int:
    """``clock``'s time in nanoseconds (clocks written before ``now_ns`` existed
    give float seconds only)."""
    exact = getattr(clock, "now_ns", None)
    return int(exact()) if exact is not None else from_seconds(clock.now())
