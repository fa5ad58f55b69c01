"""Small, dependency-free statistics for benchmark figures."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: p99 of 1,000 samples is the 990th smallest, a real sample."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def window_step_ms(starts: Sequence[float], window: int) -> tuple[float, float]:
    """Mean time per step (ms) over the first and the last ``window`` steps.

    ``starts`` are the times each step began; a window of ``w`` steps spans
    ``w`` intervals between consecutive starts.
    """
    if len(starts) < window + 1:
        raise ValueError(f"need more than {window} step starts, got {len(starts)}")
    first = (starts[window] - starts[0]) / window
    last = (starts[-1] - starts[-1 - window]) / window
    return first * 1000, last * 1000


def latency_summary(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "mean_ms": sum(ms) / len(ms),
        "max_ms": max(ms),
    }
