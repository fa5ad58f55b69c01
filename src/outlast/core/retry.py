"""Retry policies for activities and child workflows.

Retries are driven by the workflow itself through durable timers, so they survive
crashes between attempts and show up in history as timers and re-scheduled tasks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta


def _type_name(entry: type[BaseException] | str) -> str:
    if isinstance(entry, str):
        if not entry:
            raise ValueError("non_retryable_error_types: an empty name")
        return entry
    if isinstance(entry, type) and issubclass(entry, BaseException):
        return entry.__name__
    raise TypeError(
        f"non_retryable_error_types takes exception classes or their names, not {entry!r}"
    )


@dataclass(frozen=True)
class RetryPolicy:
    """How often, and how far apart, a failed activity or child workflow is tried
    again. ``non_retryable_error_types``: exception classes or class names (an
    activity may run in another process or language, so failures are matched by
    the name of the error's class, not by ``isinstance``) that fail the call at
    once; so does an error marked non-retriable (``outlast.NonRetryableError``)."""

    first_retry_interval: timedelta
    max_number_of_attempts: int
    backoff_coefficient: float = 1.0
    max_retry_interval: timedelta | None = None
    retry_timeout: timedelta | None = None
    non_retryable_error_types: Sequence[type[BaseException] | str] | None = None
    _non_retryable: frozenset[str] = field(
        init=False, repr=False, compare=False, default=frozenset()
    )

    def __post_init__(self) -> None:
        if self.non_retryable_error_types is not None:
            if isinstance(self.non_retryable_error_types, str | type):
                raise TypeError("non_retryable_error_types takes a list of types or names")
            names = frozenset(_type_name(e) for e in self.non_retryable_error_types)
            object.__setattr__(self, "_non_retryable", names)
        if self.first_retry_interval < timedelta(0):
            raise ValueError("first_retry_interval must not be negative")
        if self.max_number_of_attempts < 1:
            raise ValueError("max_number_of_attempts must be at least 1")
        if self.backoff_coefficient < 1.0:
            raise ValueError("backoff_coefficient must be at least 1.0")
        if self.max_retry_interval is not None and self.max_retry_interval < timedelta(0):
            raise ValueError("max_retry_interval must not be negative")
        if self.retry_timeout is not None and self.retry_timeout < timedelta(0):
            raise ValueError("retry_timeout must not be negative")

    def next_delay(
        self, attempt: int, elapsed: timedelta, error: BaseException | None = None
    ) -> timedelta | None:
        """The wait before attempt ``attempt + 1`` after ``attempt`` attempts failed
        within ``elapsed`` since the first one (the last with ``error``), or None
        when it is time to give up."""
        if attempt >= self.max_number_of_attempts:
            return None
        details = getattr(error, "details", None)
        if getattr(details, "non_retriable", False):
            return None
        if self._non_retryable and self.is_non_retryable(error):
            return None
        seconds = self.first_retry_interval.total_seconds() * (
            self.backoff_coefficient ** (attempt - 1)
        )
        delay = timedelta(seconds=seconds)
        if self.max_retry_interval is not None:
            delay = min(delay, self.max_retry_interval)
        if self.retry_timeout is not None and elapsed + delay > self.retry_timeout:
            return None
        return delay

    def is_non_retryable(self, error: BaseException | None) -> bool:
        """True when ``error`` (or the activity failure it reports) is of a type
        listed in ``non_retryable_error_types``."""
        if error is None:
            return False
        details = getattr(error, "details", None)
        error_type = getattr(details, "error_type", None)
        if isinstance(error_type, str) and error_type in self._non_retryable:
            return True
        return type(error).__name__ in self._non_retryable


def _positive(value: timedelta | None, what: str) -> timedelta | None:
    if value is not None and value <= timedelta(0):
        raise ValueError(f"{what} must be positive")
    return value


@dataclass(frozen=True, slots=True)
class ActivityTimeouts:
    """The timeouts of one ``call_activity``: ``start_to_close`` bounds each attempt,
    ``schedule_to_close`` the whole call (all attempts and the waits between),
    ``heartbeat`` the longest gap between two heartbeats of an attempt."""

    start_to_close: timedelta | None = None
    schedule_to_close: timedelta | None = None
    heartbeat: timedelta | None = None

    def __post_init__(self) -> None:
        _positive(self.start_to_close, "start_to_close_timeout")
        _positive(self.schedule_to_close, "schedule_to_close_timeout")
        _positive(self.heartbeat, "heartbeat_timeout")

    def options(self, details: str | None) -> str | None:
        """What the activity row carries (JSON): the heartbeat timeout and the
        attempt's timeout in seconds (the worker cancels the attempt then), and the
        heartbeat details the attempt before left; None when there is none."""
        doc: dict[str, object] = {}
        if self.start_to_close is not None:
            doc["start_to_close_timeout"] = self.start_to_close.total_seconds()
        if self.heartbeat is not None:
            doc["heartbeat_timeout"] = self.heartbeat.total_seconds()
        if details is not None:
            doc["heartbeat_details"] = details
        return json.dumps(doc, separators=(",", ":")) if doc else None
