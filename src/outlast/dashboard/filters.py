"""The instances list's filter, read from a query string or a form: status, name,
time range and instance ID prefix, with clear errors for bad input."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from outlast.core.status import WorkflowStatus

STATUSES = [s.value for s in WorkflowStatus]


@dataclass
class ListFilter:
    statuses: list[str] = field(default_factory=list)
    name: str = ""
    prefix: str = ""
    after: str = ""  # as typed: an ISO date/time (datetime-local inputs send one)
    before: str = ""
    errors: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, params: Any) -> ListFilter:
        """From a Starlette ``QueryParams`` or ``FormData`` (``getlist``/``get``)."""
        f = cls()
        for raw in params.getlist("status"):
            for part in str(raw).split(","):
                word = part.strip().upper()
                if not word:
                    continue
                if word in STATUSES:
                    if word not in f.statuses:
                        f.statuses.append(word)
                else:
                    f.errors.append(f"unknown status {part.strip()!r}")
        f.name = str(params.get("name") or "").strip()
        f.prefix = str(params.get("prefix") or "").strip()
        f.after = str(params.get("after") or "").strip()
        f.before = str(params.get("before") or "").strip()
        for label, value in (("from", f.after), ("to", f.before)):
            if value and parse_time(value) is None:
                f.errors.append(f"{label!r} is not a date and time: {value!r}")
        return f

    def client_args(self) -> dict[str, Any]:
        """Keyword arguments for ``list_workflows``/``count_workflows``."""
        return {
            "status": list(self.statuses) or None,
            "name": self.name or None,
            "instance_id_prefix": self.prefix or None,
            "created_after": parse_time(self.after) if self.after else None,
            "created_before": parse_time(self.before) if self.before else None,
        }

    def query(self, **extra: str) -> str:
        """This filter as a query string (plus ``extra``), for links."""
        pairs: list[tuple[str, str]] = [("status", s) for s in self.statuses]
        for key in ("name", "prefix", "after", "before"):
            value = getattr(self, key)
            if value:
                pairs.append((key, value))
        pairs.extend(extra.items())
        return urlencode(pairs)

    def with_status(self, status: str | None) -> str:
        """The query string of this filter restricted to one status (or none)."""
        other = ListFilter(
            [status] if status else [], self.name, self.prefix, self.after, self.before
        )
        return other.query()

    @property
    def active(self) -> bool:
        return bool(self.statuses or self.name or self.prefix or self.after or self.before)

    def describe(self) -> str:
        parts = []
        if self.statuses:
            parts.append("status " + " or ".join(self.statuses))
        if self.name:
            parts.append(f"name {self.name}")
        if self.prefix:
            parts.append(f"ID starting {self.prefix}")
        if self.after:
            parts.append(f"created from {self.after}")
        if self.before:
            parts.append(f"created before {self.before}")
        return ", ".join(parts) or "every instance"


def parse_time(value: str) -> datetime | None:
    """An ISO date or date-time; naive ones are UTC."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def form_value(form: Mapping[str, Any], key: str) -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""
