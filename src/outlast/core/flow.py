"""Flow control declarations: ``Rate`` and ``Limit`` (what ``runtime.limit`` takes),
and the checks on a call's ``key`` and ``priority``.

Pure values; the store enforces them (``outlast.store.admission``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

# Priorities run from 0 (the default) to 9; higher runs first among waiting work.
MIN_PRIORITY = 0
MAX_PRIORITY = 9
MAX_KEY_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``count`` starts in any window of length ``per`` (a sliding window:
    no burst above ``count`` at a window's edge)."""

    count: int
    per: timedelta

    def __post_init__(self) -> None:
        if not isinstance(self.count, int) or isinstance(self.count, bool) or self.count < 1:
            raise ValueError(f"Rate count must be a positive integer, not {self.count!r}")
        if not isinstance(self.per, timedelta) or self.per <= timedelta(0):
            raise ValueError(f"Rate per must be a positive timedelta, not {self.per!r}")


@dataclass(frozen=True, slots=True)
class Limit:
    """A limit on one activity or workflow name, across every worker on the store:
    ``concurrency`` running at once, ``per_key`` running at once per call key,
    ``rate`` starts per window. None: that part is unlimited."""

    name: str
    concurrency: int | None = None
    per_key: int | None = None
    rate: Rate | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("a limit needs the name of an activity or a workflow")
        for what, value in (("concurrency", self.concurrency), ("per_key", self.per_key)):
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1
            ):
                raise ValueError(f"limit {self.name!r}: {what} must be at least 1, not {value!r}")
        if self.rate is not None and not isinstance(self.rate, Rate):
            raise TypeError(f"limit {self.name!r}: rate must be an outlast.Rate")
        if self.concurrency is None and self.per_key is None and self.rate is None:
            raise ValueError(f"limit {self.name!r}: give concurrency, per_key or rate")


def check_priority(priority: int) -> int:
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise TypeError(f"priority must be an integer 0..9, not {priority!r}")
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise ValueError(f"priority must be 0..9, not {priority}")
    return priority


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str):
        raise TypeError(f"key must be a string, not {type(key).__name__}")
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"key must be 1..{MAX_KEY_LENGTH} characters")
    return key
