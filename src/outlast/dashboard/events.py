"""History events as table rows: kind, time, the step they belong to, their other
fields in short, and payloads cut to a preview (the whole one is loaded on
demand). Filtering by kind and by text happens here, over the history dicts."""

from __future__ import annotations

import json
import linecache
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from outlast.dashboard.chart import clock_time
from outlast.dashboard.render import PREVIEW_CHARS
from outlast.dashboard.values import Source, is_never, source_of, time_of

# Fields that hold payloads (JSON text) or failures: shown as expandable text.
PAYLOAD_FIELDS: Final = ("input", "result", "output", "data", "failure")
_SKIP: Final = frozenset({"kind", "timestamp", "ts", "source", *PAYLOAD_FIELDS})
_TIME_FIELDS: Final = frozenset({"fire_at", "scheduled_start", "scheduled_time"})
PAGE_SIZE: Final = 500


@dataclass
class Payload:
    name: str
    preview: str
    size: int  # characters in the whole text

    @property
    def truncated(self) -> bool:
        return self.size > len(self.preview)


@dataclass
class EventRow:
    seq: int
    kind: str
    at: float | None
    offset: float | None  # seconds since the first event
    task_id: int | None
    summary: str
    payloads: list[Payload] = field(default_factory=list)
    source: Source | None = None
    source_line: str | None = None


@dataclass
class HistoryPage:
    rows: list[EventRow]
    matching: int
    total: int
    kinds: list[str]
    offset: int
    limit: int

    @property
    def next_offset(self) -> int | None:
        return self.offset + self.limit if self.offset + self.limit < self.matching else None

    @property
    def prev_offset(self) -> int | None:
        return max(0, self.offset - self.limit) if self.offset > 0 else None


def payload_text(value: Any) -> str:
    """A payload field as the text shown: JSON text as it is stored, anything
    else (a failure's dict) as indented JSON."""
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode()
    except TypeError:
        return json.dumps(value, indent=2, default=str)


def page(
    history: Sequence[Mapping[str, Any]],
    *,
    kind: str = "",
    text: str = "",
    offset: int = 0,
    limit: int = PAGE_SIZE,
    read_sources: bool = True,
) -> HistoryPage:
    """One page of the rows of ``history`` whose kind is ``kind`` (any if empty)
    and whose fields contain ``text`` (any case)."""
    kinds = sorted({str(e.get("kind")) for e in history})
    needle = text.lower()
    matching = [
        seq
        for seq, e in enumerate(history)
        if (not kind or e.get("kind") == kind) and (not needle or needle in dumps(e).lower())
    ]
    offset = max(0, min(offset, max(0, len(matching) - 1)))
    start = time_of(history[0].get("timestamp")) if history else None
    rows = [
        _row(seq, history[seq], start, read_sources) for seq in matching[offset : offset + limit]
    ]
    return HistoryPage(rows, len(matching), len(history), kinds, offset, limit)


def _row(seq: int, e: Mapping[str, Any], start: float | None, read_sources: bool) -> EventRow:
    at = time_of(e.get("timestamp"))
    task_id = e.get("task_id")
    parts = []
    for key, value in e.items():
        if key in _SKIP or value is None or value == [] or value == {} or key == "task_id":
            continue
        parts.append(f"{key}={_field(key, value)}")
    payloads = []
    for key in PAYLOAD_FIELDS:
        value = e.get(key)
        if value is None:
            continue
        whole = payload_text(value)
        payloads.append(Payload(key, whole[:PREVIEW_CHARS], len(whole)))
    source = source_of(e)
    return EventRow(
        seq=seq,
        kind=str(e.get("kind")),
        at=at,
        offset=None if at is None or start is None else at - start,
        task_id=task_id if isinstance(task_id, int) else None,
        summary=" ".join(parts),
        payloads=payloads,
        source=source,
        source_line=source_line(source) if source is not None and read_sources else None,
    )


def _field(key: str, value: Any) -> str:
    if key in _TIME_FIELDS or key.endswith("_at"):
        if is_never(value):
            return "never"
        when = time_of(value)
        if when is not None:
            return clock_time(when)
    text = value if isinstance(value, str) else dumps(value)
    return text if len(text) <= 120 else text[:117] + "..."


def dumps(value: Any) -> str:
    """JSON text of a history value; integers past 64 bits (the "never" time of a
    wait without a timeout) as well, which orjson refuses."""
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:
        return json.dumps(value, default=str, separators=(",", ":"))


def source_line(source: Source) -> str | None:
    """The line of workflow code a step was scheduled at, when this process can
    read the file (a Python file only: the path comes from stored history)."""
    if not source.file.endswith(".py"):
        return None
    line = linecache.getline(source.file, source.line)
    return line.strip()[:200] or None
