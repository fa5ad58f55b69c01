"""Time, injected: the runtime and client read the clock only through a ``Clock``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (UTC)."""
        ...

    def add_listener(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` whenever time jumps (only test clocks jump)."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def add_listener(self, fn: Callable[[], None]) -> None:
        pass  # wall time never jumps under the runtime's feet on purpose


SYSTEM_CLOCK = SystemClock()
