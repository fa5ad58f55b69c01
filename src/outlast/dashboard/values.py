"""Reading the fields of history dicts the way the dashboard needs them, tolerant
of the forms engines and SDKs write: times as ISO strings, epoch seconds or
``{"seconds", "nanos"}``; sources as ``{"file", "line"}`` or ``"file:line"``;
timer origins as a string or a dict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

# Timers set this far out stand for "no timeout" (durabletask's indefinite waits).
_NEVER: Final = datetime(9000, 1, 1, tzinfo=UTC).timestamp()
# No epoch-seconds time is this large (year 33,000,000); nanosecond times are.
_NANOS_FROM: Final = 10**15


def is_never(value: Any) -> bool:
    """Whether a time field says "never" (an event wait without a timeout)."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1e9 if value >= _NANOS_FROM else value
        return seconds >= _NEVER
    return isinstance(value, str) and value[:4].isdigit() and int(value[:4]) >= 9000


@dataclass(frozen=True)
class Source:
    """Where in the workflow's code a step was scheduled."""

    file: str
    line: int
    function: str | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def short(self) -> str:
        """The file's last two path parts and the line: ``examples/orders.py:38``."""
        parts = self.file.replace("\\", "/").split("/")
        return f"{'/'.join(parts[-2:])}:{self.line}"


def time_of(value: Any) -> float | None:
    """Epoch seconds of a time field, or None (absent, unreadable, or "never").
    Integers this large are nanoseconds (outlast's exact history times)."""
    seconds: float | None = None
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int) and value >= _NANOS_FROM:
        seconds = value / 1e9
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        seconds = parsed.timestamp()
    elif isinstance(value, Mapping) and "seconds" in value:
        try:
            seconds = float(value["seconds"]) + float(value.get("nanos") or 0) / 1e9
        except (TypeError, ValueError):
            return None
    if seconds is None or seconds >= _NEVER:
        return None
    return seconds


def source_of(event: Mapping[str, Any]) -> Source | None:
    """The code location recorded with an action record, if any."""
    raw = event.get("source")
    if isinstance(raw, Mapping):
        file, line = raw.get("file") or raw.get("filename"), raw.get("line") or raw.get("lineno")
        function = raw.get("function") or raw.get("func")
    elif isinstance(raw, str) and ":" in raw:
        file, _, line = raw.rpartition(":")
        function = None
    else:
        return None
    try:
        number = int(str(line))
    except ValueError:
        return None
    if not isinstance(file, str) or not file or number < 1:
        return None
    return Source(file, number, function if isinstance(function, str) else None)


def event_name_of_timer(event: Mapping[str, Any]) -> str | None:
    """The external event a timer waits out (its timeout, or the marker of a wait
    without one) when its origin says so; None for other timers."""
    origin = event.get("origin")
    name: Any = None
    if isinstance(origin, Mapping):
        inner = origin.get("external_event") or origin.get("externalEvent")
        if isinstance(inner, Mapping):
            return str(inner.get("name") or event.get("name") or "")
        kind = origin.get("kind") or origin.get("type")
        name = origin.get("name") or origin.get("event_name")
    else:
        kind = origin
    if isinstance(kind, str) and kind.lower().replace("_", "") == "externalevent":
        name = name or event.get("origin_name") or event.get("event_name") or event.get("name")
        return str(name or "")
    return None


def status_word(value: Any) -> str:
    """A status as its word: enums give their value."""
    return str(getattr(value, "value", value))
