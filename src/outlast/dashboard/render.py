"""The Jinja2 environment: templates from the package, autoescape always on, and
every value shown as text (control characters made visible, so a terminal escape
sequence in a payload is a string of characters, not an instruction)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final

from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from outlast.dashboard.chart import clock_time, duration

_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# Longer payloads are cut in the page and loaded whole on demand.
PREVIEW_CHARS: Final = 400


def visible(value: str) -> str:
    """``value`` with control and bidi-override characters as ``\\xNN`` (or
    ``\\uNNNN``) escapes."""
    return _CONTROL.sub(_escape, value)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _finalize(value: Any) -> Any:
    if isinstance(value, str) and not isinstance(value, Markup):
        return visible(value)
    return "" if value is None else value


def _when(value: datetime | float | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.timestamp()
    return clock_time(value)


def _ago(value: datetime | float | None, now: float) -> str:
    if value is None:
        return ""
    ts = value.timestamp() if isinstance(value, datetime) else value
    delta = now - ts
    return f"{duration(abs(delta))} {'ago' if delta >= 0 else 'from now'}"


def _iso(value: datetime | float | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return datetime.fromtimestamp(value, UTC).isoformat()


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("outlast.dashboard", "templates"),
        autoescape=True,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["ago"] = _ago
    env.filters["iso"] = _iso
    env.filters["duration"] = duration
    env.globals["PREVIEW_CHARS"] = PREVIEW_CHARS
    return env
