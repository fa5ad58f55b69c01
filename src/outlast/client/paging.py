"""Listing: pages of instances, their keyset continuation tokens, and filters."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from outlast.client.state import WorkflowState
from outlast.core.status import WorkflowStatus


@dataclass(frozen=True)
class WorkflowPage:
    """A page of ``list_workflows``; iterate it for the states."""

    states: list[WorkflowState]
    continuation_token: str | None

    def __iter__(self) -> Iterator[WorkflowState]:
        return iter(self.states)

    def __len__(self) -> int:
        return len(self.states)


def timestamp(value: datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def statuses(
    status: WorkflowStatus | str | list[WorkflowStatus | str] | None,
) -> list[str] | None:
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
