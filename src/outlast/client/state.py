"""``WorkflowState``: the snapshot of one instance that clients read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from outlast.core.serialization import from_json
from outlast.core.status import WorkflowStatus
from outlast.errors import FailureDetails
from outlast.store.base import InstanceRecord


@dataclass(frozen=True)
class WorkflowState:
    """A snapshot of one workflow instance, as ``get_workflow_state`` returns it."""

    instance_id: str
    name: str
    runtime_status: WorkflowStatus
    created_at: datetime
    last_updated_at: datetime
    serialized_input: str | None = None
    serialized_output: str | None = None
    serialized_custom_status: str | None = None
    failure_details: FailureDetails | None = None
    parent_instance_id: str | None = None

    @property
    def workflow_name(self) -> str:
        return self.name

    def output(self, hint: Any = None) -> Any:
        """The decoded output (optionally converted to ``hint``'s type)."""
        return from_json(self.serialized_output, hint)

    def input(self, hint: Any = None) -> Any:
        return from_json(self.serialized_input, hint)

    def custom_status(self) -> Any:
        return from_json(self.serialized_custom_status)

    def to_json(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "name": self.name,
            "runtime_status": self.runtime_status.value,
            "created_at": self.created_at.isoformat(),
            "last_updated_at": self.last_updated_at.isoformat(),
            "serialized_input": self.serialized_input,
            "serialized_output": self.serialized_output,
            "serialized_custom_status": self.serialized_custom_status,
            "failure_details": None
            if self.failure_details is None
            else self.failure_details.to_dict(),
            "parent_instance_id": self.parent_instance_id,
        }


@dataclass(frozen=True)
class PendingActivity:
    """An activity a workflow scheduled that has not finished yet, and the worker
    that runs it (None: no worker has taken it yet)."""

    task_id: int
    name: str
    worker: str | None
    serialized_input: str | None = None


def _datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def state_of(record: InstanceRecord, *, fetch_payloads: bool = True) -> WorkflowState:
    """The client's view of a stored instance record."""
    failure = None
    if record.failure:
        failure = FailureDetails.from_dict(orjson.loads(record.failure))
    return WorkflowState(
        instance_id=record.instance_id,
        name=record.name,
        runtime_status=WorkflowStatus(record.status),
        created_at=_datetime(record.created_at),
        last_updated_at=_datetime(record.updated_at),
        serialized_input=record.input if fetch_payloads else None,
        serialized_output=record.output if fetch_payloads else None,
        serialized_custom_status=record.custom_status if fetch_payloads else None,
        failure_details=failure,
        parent_instance_id=record.parent_instance_id,
    )
