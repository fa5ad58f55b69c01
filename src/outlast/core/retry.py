"""Retry policies for activities and child workflows.

Retries are driven by the workflow itself through durable timers, so they survive
crashes between attempts and show up in history as timers and re-scheduled tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class RetryPolicy:
    first_retry_interval: timedelta
    max_number_of_attempts: int
    backoff_coefficient: float = 1.0
    max_retry_interval: timedelta | None = None
    retry_timeout: timedelta | None = None

    def __post_init__(self) -> None:
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
        seconds = self.first_retry_interval.total_seconds() * (
            self.backoff_coefficient ** (attempt - 1)
        )
        delay = timedelta(seconds=seconds)
        if self.max_retry_interval is not None:
            delay = min(delay, self.max_retry_interval)
        if self.retry_timeout is not None and elapsed + delay > self.retry_timeout:
            return None
        return delay
