"""Exact times: integer nanoseconds since the Unix epoch, UTC.

History times are exact so that a wire protocol's timestamps (seconds and
nanoseconds) round-trip bit for bit; a float cannot hold them. ``NEVER`` is the
fire time of the timer an open-ended wait for an external event creates
(9999-12-31T23:59:59.999999999Z, what the Dapr SDKs send): such a timer is
recorded but never fires.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

Nanos = int

NS_PER_SECOND = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NEVER: Nanos = 253402300799 * NS_PER_SECOND + 999_999_999
# Timers at or past this are never scheduled (no inbox row); NEVER is one.
NEVER_FIRES_FROM: Nanos = 253402300799 * NS_PER_SECOND


def from_seconds(seconds: float) -> Nanos:
    """Nanoseconds from float epoch seconds (what older histories stored)."""
    return round(seconds * NS_PER_SECOND)


def to_seconds(ns: Nanos) -> float:
    return ns / NS_PER_SECOND


def from_datetime(value: datetime) -> Nanos:
    """An aware datetime (naive means UTC) to nanoseconds, exactly."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return ((value - _EPOCH) // timedelta(microseconds=1)) * 1000


def to_datetime(ns: Nanos) -> datetime:
    """Nanoseconds to an aware UTC datetime (microsecond precision, as datetime has)."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


def from_timedelta(delta: timedelta) -> Nanos:
    return (delta // timedelta(microseconds=1)) * 1000


def rfc3339(ns: Nanos) -> str:
    """``2023-05-03T23:22:11.143069123Z``: nine fractional digits, as Go prints them."""
    seconds, nanos = divmod(ns, NS_PER_SECOND)
    whole = _EPOCH + timedelta(seconds=seconds)
    return f"{whole:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"
