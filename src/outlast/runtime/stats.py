"""What a runtime counts for its metrics, kept cheap: plain integers bumped once a
round (turns, commits) or once an activity attempt, no metrics library here.
``outlast.http.metrics`` turns them into Prometheus metrics when scraped, with
the figures read from the store at that moment (instances by status, queues)."""

from __future__ import annotations

import threading
from bisect import bisect_left
from dataclasses import dataclass, field

# Upper bounds (seconds) of commit and activity duration buckets; sizes in turns.
SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SIZE_BUCKETS = (1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0)


@dataclass(slots=True)
class Histogram:
    """Counts per bucket (not cumulative; the last is +Inf), their sum and count."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """Prometheus buckets: ``(le, count at or below)``, ending with +Inf."""
        out, running = [], 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += n
            out.append(("+Inf" if bound == float("inf") else repr(bound), running))
        return out


class RuntimeStats:
    """Counters of one runtime. Written by its worker and activity threads; read
    by a metrics scrape (a snapshot is read under the lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.turns = 0
        self.commits = 0
        self.commit_seconds = Histogram(SECONDS_BUCKETS)
        self.commit_turns = Histogram(SIZE_BUCKETS)
        # activity name -> attempts by outcome ("completed" / "failed"), durations
        self.activity_attempts: dict[tuple[str, str], int] = {}
        self.activity_seconds: dict[str, Histogram] = {}

    def committed(self, turns: int, seconds: float) -> None:
        """One round's commit: ``turns`` turns in ``seconds``."""
        with self._lock:
            self.commits += 1
            self.turns += turns
            self.commit_seconds.observe(seconds)
            self.commit_turns.observe(turns)

    def activity(self, name: str, ok: bool, seconds: float) -> None:
        """One activity attempt ended."""
        key = (name, "completed" if ok else "failed")
        with self._lock:
            self.activity_attempts[key] = self.activity_attempts.get(key, 0) + 1
            hist = self.activity_seconds.get(name)
            if hist is None:
                hist = self.activity_seconds[name] = Histogram(SECONDS_BUCKETS)
            hist.observe(seconds)

    def snapshot(self) -> RuntimeStats:
        """A copy, consistent as of now (for a scrape)."""
        copy = RuntimeStats()
        with self._lock:
            copy.turns, copy.commits = self.turns, self.commits
            copy.commit_seconds = _copy(self.commit_seconds)
            copy.commit_turns = _copy(self.commit_turns)
            copy.activity_attempts = dict(self.activity_attempts)
            copy.activity_seconds = {k: _copy(v) for k, v in self.activity_seconds.items()}
        return copy


def _copy(h: Histogram) -> Histogram:
    out = Histogram(h.bounds)
    out.counts, out.total, out.count = list(h.counts), h.total, h.count
    return out
