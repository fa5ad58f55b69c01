"""outlast: a durable workflow engine for Python.

Write workflows as generator functions and activities as plain functions; outlast
runs them to completion through crashes, restarts and long waits.

The names below are loaded on first use: ``import outlast`` itself loads only the
error tree, so a program (or a CLI call) pays for the engine, the store drivers
and the server only when it uses them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from outlast.errors import (
    ActivityTimeoutError,
    FailureDetails,
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    InvalidStateError,
    MissingExtraError,
    NonDeterminismError,
    NonRetryableError,
    OutlastError,
    PayloadTooLargeError,
    RegistrationError,
    ScheduleAlreadyExistsError,
    ScheduleNotFoundError,
    SerializationError,
    StoreError,
    TaskFailedError,
    TimeoutError,
    UnknownActivityError,
    UnknownWorkflowError,
    WorkflowTimeoutError,
)

if TYPE_CHECKING:
    from outlast.client.client import WorkflowClient
    from outlast.client.instance_id import InstanceID
    from outlast.client.schedule_state import Schedule, ScheduleRun
    from outlast.client.state import WorkflowState
    from outlast.core.context import ActivityContext, WorkflowContext
    from outlast.core.flow import Rate
    from outlast.core.retry import RetryPolicy
    from outlast.core.status import WorkflowStatus
    from outlast.core.task import Task, when_all, when_any
    from outlast.runtime.runtime import WorkflowRuntime

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "ActivityContext": "outlast.core.context",
    "InstanceID": "outlast.client.instance_id",
    "Rate": "outlast.core.flow",
    "RetryPolicy": "outlast.core.retry",
    "Schedule": "outlast.client.schedule_state",
    "ScheduleRun": "outlast.client.schedule_state",
    "Task": "outlast.core.task",
    "WorkflowClient": "outlast.client.client",
    "WorkflowContext": "outlast.core.context",
    "WorkflowRuntime": "outlast.runtime.runtime",
    "WorkflowState": "outlast.client.state",
    "WorkflowStatus": "outlast.core.status",
    "when_all": "outlast.core.task",
    "when_any": "outlast.core.task",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'outlast' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ActivityContext",
    "ActivityTimeoutError",
    "FailureDetails",
    "InstanceAlreadyExistsError",
    "InstanceID",
    "InstanceNotFoundError",
    "InvalidStateError",
    "MissingExtraError",
    "NonDeterminismError",
    "NonRetryableError",
    "OutlastError",
    "PayloadTooLargeError",
    "Rate",
    "RegistrationError",
    "RetryPolicy",
    "Schedule",
    "ScheduleAlreadyExistsError",
    "ScheduleNotFoundError",
    "ScheduleRun",
    "SerializationError",
    "StoreError",
    "Task",
    "TaskFailedError",
    "TimeoutError",
    "UnknownActivityError",
    "UnknownWorkflowError",
    "WorkflowClient",
    "WorkflowContext",
    "WorkflowRuntime",
    "WorkflowState",
    "WorkflowStatus",
    "WorkflowTimeoutError",
    "__version__",
    "when_all",
    "when_any",
]
