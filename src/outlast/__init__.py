"""outlast: a durable workflow engine for Python.

Write workflows as generator functions and activities as plain functions; outlast
runs them to completion through crashes, restarts and long waits.
"""

from .client import WorkflowClient
from .context import ActivityContext, WorkflowContext
from .errors import (
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
from .retry import RetryPolicy
from .runtime import WorkflowRuntime
from .status import WorkflowState, WorkflowStatus
from .task import Task, when_all, when_any

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
