"""Workflow runtime statuses and the state snapshot clients read."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import FailureDetails
from .serialization import from_json


class WorkflowStatus(enum.Enum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    CONTINUED_AS_NEW = "CONTINUED_AS_NEW"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    TERMINATED = "TERMINATED"
    PENDING = "PENDING"
    SUSPENDED = "SUSPENDED"
    STALLED = "STALLED"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {
        WorkflowStatus.COMPLETED,
        WorkflowStatus.FAILED,
        WorkflowStatus.TERMINATED,
        WorkflowStatus.CANCELED,
    }
)
TERMINAL_STATUSES = frozenset(s.value for s in _TERMINAL)


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
