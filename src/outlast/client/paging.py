"""Listing: pages of instances, their keyset continuation tokens, and filters."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from outlast.client.state import WorkflowState
from outlast.core.status import WorkflowStatus
from outlast.store.base import InstanceQuery

StatusFilter = WorkflowStatus | str | list[WorkflowStatus | str] | None
_ID_PREFIX = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class WorkflowPage:
    """A page of ``list_workflows``; iterate it for the states."""

    states: list[WorkflowState]
    continuation_token: str | None

    def __iter__(self) -> Iterator[WorkflowState]:
        return iter(self.states)

    def __len__(self) -> int:
        return len(self.states)


@dataclass(frozen=True)
class StatusCounts:
    """``count_workflows``: how many instances there are in each status. ``exact``
    is False when the store estimated them from its statistics (PostgreSQL, on
    large tables)."""

    counts: dict[WorkflowStatus, int]
    exact: bool = True

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def query(
    *,
    status: StatusFilter = None,
    name: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    instance_id_prefix: str | None = None,
    parent_instance_id: str | None = None,
    limit: int = 100,
) -> InstanceQuery:
    """The store query for the client's filters, checked."""
    if instance_id_prefix is not None and not _ID_PREFIX.match(instance_id_prefix):
        raise ValueError(
            f"invalid instance ID prefix {instance_id_prefix!r}: "
            "use 1 to 64 letters, digits, '_' or '-'"
        )
    return InstanceQuery(
        statuses=statuses(status),
        name=name,
        created_after=None if created_after is None else timestamp(created_after),
        created_before=None if created_before is None else timestamp(created_before),
        instance_id_prefix=instance_id_prefix,
        parent_instance_id=parent_instance_id,
        limit=limit,
    )


def timestamp(value: datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def statuses(status: StatusFilter) -> list[str] | None:
    if status is None:
        return None
    items = status if isinstance(status, list) else [status]
    return [WorkflowStatus(s.upper() if isinstance(s, str) else s).value for s in items]


def encode_token(created_at: float, instance_id: str) -> str:
    raw = orjson.dumps([created_at, instance_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[float, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        created_at, instance_id = orjson.loads(base64.urlsafe_b64decode(padded))
        return float(created_at), str(instance_id)
    except (ValueError, TypeError, orjson.JSONDecodeError) as e:
        raise ValueError(f"invalid continuation token {token!r}") from e
