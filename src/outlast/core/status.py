"""Workflow runtime statuses: what a store indexes and every layer speaks."""

from __future__ import annotations

import enum


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
