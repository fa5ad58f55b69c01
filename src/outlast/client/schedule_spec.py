"""User arguments (timedeltas, datetimes) to a ``ScheduleSpec`` (numbers) and back."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from outlast.core.schedule import ScheduleSpec, tick_instance_id

UNSET: Final[Any] = object()


def _seconds(value: timedelta | float | None, what: str) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{what} must be a non-negative duration")
    return seconds


def _every(value: timedelta | float | None) -> int | None:
    seconds = _seconds(value, "every")
    if seconds is None:
        return None
    if seconds < 1 or seconds != int(seconds):
        raise ValueError("every= must be a whole number of seconds, at least one")
    return int(seconds)


def epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def dumps(spec: ScheduleSpec) -> str:
    return orjson.dumps(spec.to_dict()).decode()


def build_spec(
    *,
    cron: str | None = None,
    every: timedelta | float | None = None,
    timezone: str = "UTC",
    start_at: datetime | None = None,
    end_at: datetime | None = None,
    jitter: timedelta | float | None = None,
    overlap: str = "skip",
    catchup: str = "skip",
) -> ScheduleSpec:
    """A validated spec from ``create_schedule``'s arguments; ValueError if bad."""
    fields = spec_fields(cron=cron, every=every, start_at=start_at, end_at=end_at, jitter=jitter)
    return ScheduleSpec(timezone=timezone, overlap=overlap, catchup=catchup, **fields)  # type: ignore[arg-type]


def spec_fields(**given: Any) -> dict[str, Any]:
    """User arguments (timedelta, datetime) as ScheduleSpec fields (numbers)."""
    out: dict[str, Any] = {}
    for key, value in given.items():
        if value is UNSET:
            continue
        if key == "every":
            value = _every(value)
        elif key == "jitter":
            value = _seconds(value, "jitter")
        elif key in ("start_at", "end_at"):
            value = epoch(value)
        out[key] = value
    return out


def spec_arguments(spec: ScheduleSpec) -> dict[str, Any]:
    """``create_schedule``'s keyword arguments for ``spec``."""
    return {
        "cron": spec.cron,
        "every": spec.every,
        "timezone": spec.timezone,
        "start_at": None if spec.start_at is None else datetime.fromtimestamp(spec.start_at, UTC),
        "end_at": None if spec.end_at is None else datetime.fromtimestamp(spec.end_at, UTC),
        "jitter": spec.jitter,
        "overlap": spec.overlap,
        "catchup": spec.catchup,
    }


def instance_id_of(schedule_id: str, scheduled_time: datetime) -> str:
    """The instance ID of a schedule's tick at ``scheduled_time``."""
    ts = epoch(scheduled_time)
    assert ts is not None
    return tick_instance_id(schedule_id, math.floor(ts))
