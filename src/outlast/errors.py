"""Every error outlast raises derives from :class:`OutlastError`.

The tree::

    OutlastError
    ├── SerializationError            a value cannot be encoded to / decoded from JSON
    │   └── PayloadTooLargeError      an encoded payload exceeds the configured maximum
    ├── TaskFailedError               an activity or child workflow failed (``details``)
    │   └── ActivityTimeoutError      an activity attempt ran out of time
    ├── NonRetryableError             raised by an activity: retrying cannot help
    ├── WorkflowTimeoutError          wait_for_external_event(timeout=...) elapsed
    ├── NonDeterminismError           workflow code no longer matches its history
    ├── RegistrationError             a workflow or activity is registered twice / badly
    ├── UnknownWorkflowError          no workflow of that name is registered
    ├── UnknownActivityError          no activity of that name is registered
    ├── InstanceNotFoundError         no instance with that ID in the store
    ├── InstanceAlreadyExistsError    an instance with that ID is still active
    ├── InvalidStateError             the operation does not fit the instance's status
    ├── ScheduleNotFoundError         no schedule with that ID in the store
    ├── ScheduleAlreadyExistsError    a schedule with that ID exists
    ├── StoreError                    the storage backend failed (driver error chained)
    ├── MissingExtraError             a feature's optional dependencies are not installed
    └── TimeoutError                  a client wait elapsed (also a builtin TimeoutError)
"""

from __future__ import annotations

import builtins
import traceback
from dataclasses import dataclass
from typing import Any


class OutlastError(Exception):
    """Base class of every error raised by outlast."""


class SerializationError(OutlastError, TypeError):
    """A value could not be converted to or from JSON."""


@dataclass(frozen=True, slots=True)
class FailureDetails:
    """What went wrong in a failed activity, child workflow or workflow.

    ``inner``: the failure that caused this one, if known; ``non_retriable``: the
    failure says retrying cannot help (retry policies then give up at once). For an
    activity: ``attempt``, the attempt that failed (restarts count), and
    ``heartbeat_details``, the JSON its last heartbeat carried (the next attempt
    reads it as ``ActivityContext.heartbeat_details``)."""

    error_type: str
    message: str
    stack_trace: str | None = None
    inner: FailureDetails | None = None
    non_retriable: bool = False
    attempt: int | None = None
    heartbeat_details: str | None = None

    @classmethod
    def from_exception(cls, exc: BaseException) -> FailureDetails:
        """The details of ``exc``; never raises, whatever the exception does. A
        :class:`NonRetryableError` (or an exception carrying ``non_retriable``
        details) is marked ``non_retriable``."""
        details = getattr(exc, "details", None)
        non_retriable = isinstance(exc, NonRetryableError) or (
            isinstance(details, FailureDetails) and details.non_retriable
        )
        return cls(type(exc).__name__, _safe_str(exc), _safe_trace(exc), None, non_retriable)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "error_type": self.error_type,
            "message": self.message,
            "stack_trace": self.stack_trace,
        }
        if self.inner is not None:
            data["inner"] = self.inner.to_dict()
        if self.non_retriable:
            data["non_retriable"] = True
        if self.attempt is not None:
            data["attempt"] = self.attempt
        if self.heartbeat_details is not None:
            data["heartbeat_details"] = self.heartbeat_details
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FailureDetails:
        inner = data.get("inner")
        return cls(
            str(data["error_type"]),
            str(data["message"]),
            data.get("stack_trace"),
            None if inner is None else cls.from_dict(inner),
            bool(data.get("non_retriable", False)),
            _optional_int(data.get("attempt")),
            _optional_str(data.get("heartbeat_details")),
        )


def _optional_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except BaseException:  # an exception whose __str__ fails still gets reported
        return f"<{type(exc).__name__}: str() failed>"


def _safe_trace(exc: BaseException) -> str | None:
    try:
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except BaseException:
        return None


class PayloadTooLargeError(SerializationError, ValueError):
    """An encoded payload is larger than the configured ``max_payload_bytes``."""


class TaskFailedError(OutlastError):
    """An activity or child workflow failed; raised into the workflow at its ``yield``."""

    def __init__(self, message: str, details: FailureDetails) -> None:
        super().__init__(message)
        self.details = details


class ActivityTimeoutError(TaskFailedError):
    """An activity attempt outran its ``start_to_close_timeout`` or
    ``schedule_to_close_timeout``, or missed its ``heartbeat_timeout``; raised into
    the workflow once the retry policy (if any) gives up."""


class NonRetryableError(OutlastError):
    """Raise it (or a subclass) from an activity to fail it for good: a retry policy
    does not try it again, e.g. ``raise NonRetryableError("card declined")``."""


class WorkflowTimeoutError(OutlastError):
    """``wait_for_external_event(..., timeout=...)`` elapsed before the event arrived."""


class NonDeterminismError(OutlastError):
    """The workflow's code no longer matches the history it is replaying."""


class RegistrationError(OutlastError, ValueError):
    """A workflow or activity could not be registered."""


class UnknownWorkflowError(OutlastError, LookupError):
    """No workflow is registered under that name."""


class UnknownActivityError(OutlastError, LookupError):
    """No activity is registered under that name."""


class InstanceNotFoundError(OutlastError, LookupError):
    """No workflow instance with that ID exists in the store."""


class InstanceAlreadyExistsError(OutlastError):
    """A workflow instance with that ID exists and has not finished."""


class InvalidStateError(OutlastError):
    """The operation does not apply to the instance in its current status."""


class ScheduleNotFoundError(OutlastError, LookupError):
    """No schedule with that ID exists in the store."""


class ScheduleAlreadyExistsError(OutlastError):
    """A schedule with that ID exists already."""


class StoreError(OutlastError):
    """The storage backend failed; the driver's exception is chained as ``__cause__``."""


class TimeoutError(OutlastError, builtins.TimeoutError):
    """A client-side wait did not finish in time."""


class MissingExtraError(OutlastError, ImportError):
    """A feature needs an optional dependency group (an "extra") that is not
    installed; the message names the ``pip install`` that adds it."""
