"""outlast: a durable workflow engine for Python.

Write workflows as generator functions and activities as plain functions; outlast
runs them to completion through crashes, restarts and long waits.
"""

from outlast.client.client import WorkflowClient
from outlast.client.state import WorkflowState
from outlast.core.context import ActivityContext, WorkflowContext
from outlast.core.retry import RetryPolicy
from outlast.core.status import WorkflowStatus
from outlast.core.task import Task, when_all, when_any
from outlast.errors import (
    FailureDetails,
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    InvalidStateError,
    NonDeterminismError,
    OutlastError,
    PayloadTooLargeError,
    RegistrationError,
    SerializationError,
    StoreError,
    TaskFailedError,
    TimeoutError,
    UnknownActivityError,
    UnknownWorkflowError,
    WorkflowTimeoutError,
)
from outlast.runtime.runtime import WorkflowRuntime

__version__ = "0.1.0"

__all__ = [
    "ActivityContext",
    "FailureDetails",
    "InstanceAlreadyExistsError",
    "InstanceNotFoundError",
    "InvalidStateError",
    "NonDeterminismError",
    "OutlastError",
    "PayloadTooLargeError",
    "RegistrationError",
    "RetryPolicy",
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
