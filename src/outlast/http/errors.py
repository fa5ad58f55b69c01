"""HTTP errors in Dapr's shape: ``{"errorCode": "...", "message": "..."}``.

The codes are Dapr's (``pkg/messages`` in dapr/dapr) wherever Dapr has one, so a
client written against a Dapr sidecar reads our errors the same way. The HTTP
status differs from Dapr's in one respect: Dapr answers 500 for every failure of
an operation, we answer 500 only for real server faults and a 4xx when the request
itself cannot succeed (unknown workflow, instance still running, ...).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.responses import Response

from outlast.errors import (
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    InvalidStateError,
    PayloadTooLargeError,
    ScheduleAlreadyExistsError,
    ScheduleNotFoundError,
    SerializationError,
    StoreError,
    UnknownWorkflowError,
)
from outlast.redaction import redact_text

log = logging.getLogger("outlast.server")

# Instance IDs
ERR_INSTANCE_ID_PROVIDED_MISSING = "ERR_INSTANCE_ID_PROVIDED_MISSING"
ERR_INSTANCE_ID_INVALID = "ERR_INSTANCE_ID_INVALID"
ERR_INSTANCE_ID_TOO_LONG = "ERR_INSTANCE_ID_TOO_LONG"
ERR_INSTANCE_ID_NOT_FOUND = "ERR_INSTANCE_ID_NOT_FOUND"
# Request shape
ERR_WORKFLOW_NAME_MISSING = "ERR_WORKFLOW_NAME_MISSING"
ERR_WORKFLOW_EVENT_NAME_MISSING = "ERR_WORKFLOW_EVENT_NAME_MISSING"
ERR_MALFORMED_REQUEST = "ERR_MALFORMED_REQUEST"
ERR_REQUEST_TOO_LARGE = "ERR_REQUEST_TOO_LARGE"
ERR_UNAUTHORIZED = "ERR_UNAUTHORIZED"
ERR_NOT_FOUND = "ERR_NOT_FOUND"
ERR_METHOD_NOT_ALLOWED = "ERR_METHOD_NOT_ALLOWED"
ERR_NOT_IMPLEMENTED = "ERR_NOT_IMPLEMENTED"
ERR_INTERNAL = "ERR_INTERNAL"
ERR_HEALTH_NOT_READY = "ERR_HEALTH_NOT_READY"
# One per operation: what failed, when the failure is not one of the above.
ERR_START_WORKFLOW = "ERR_START_WORKFLOW"
ERR_GET_WORKFLOW = "ERR_GET_WORKFLOW"
ERR_RAISE_EVENT_WORKFLOW = "ERR_RAISE_EVENT_WORKFLOW"
ERR_TERMINATE_WORKFLOW = "ERR_TERMINATE_WORKFLOW"
ERR_PAUSE_WORKFLOW = "ERR_PAUSE_WORKFLOW"
ERR_RESUME_WORKFLOW = "ERR_RESUME_WORKFLOW"
ERR_PURGE_WORKFLOW = "ERR_PURGE_WORKFLOW"
# Beyond Dapr, named the way Dapr names its own.
ERR_LIST_WORKFLOWS = "ERR_LIST_WORKFLOWS"
ERR_GET_WORKFLOW_HISTORY = "ERR_GET_WORKFLOW_HISTORY"
ERR_RERUN_WORKFLOW = "ERR_RERUN_WORKFLOW"
ERR_SCHEDULE_NOT_FOUND = "ERR_SCHEDULE_NOT_FOUND"


class ApiError(Exception):
    """An error answer: raise it anywhere in a handler."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers

    def response(self) -> Response:
        return error_response(self.status, self.code, self.message, self.headers)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    # Every error the API sends passes here: no credential in it leaves the server.
    body: dict[str, Any] = {"errorCode": code, "message": redact_text(message)}
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def not_found(instance_id: str) -> ApiError:
    return ApiError(
        404,
        ERR_INSTANCE_ID_NOT_FOUND,
        f"unable to find workflow with the provided instance ID: {instance_id}",
    )


def malformed(message: str) -> ApiError:
    return ApiError(400, ERR_MALFORMED_REQUEST, message)


def from_exception(exc: Exception, code: str, instance_id: str | None = None) -> ApiError:
    """Translate an exception from the client into the answer for operation ``code``."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, InstanceNotFoundError):
        return not_found(instance_id) if instance_id else ApiError(404, ERR_NOT_FOUND, str(exc))
    if isinstance(exc, ScheduleNotFoundError):
        return ApiError(404, ERR_SCHEDULE_NOT_FOUND, str(exc))
    # The request is well formed but the instance is not in a state that allows it.
    if isinstance(exc, InstanceAlreadyExistsError | InvalidStateError | ScheduleAlreadyExistsError):
        return ApiError(409, code, str(exc))
    if isinstance(exc, PayloadTooLargeError):
        return ApiError(413, code, str(exc))
    if isinstance(exc, UnknownWorkflowError | SerializationError | ValueError):
        return ApiError(400, code, str(exc))
    if isinstance(exc, StoreError):
        log.error("store failure in %s: %s", code, redact_text(str(exc)), exc_info=exc)
        return ApiError(500, code, f"the store failed: {exc}")
    log.error("unexpected failure in %s", code, exc_info=exc)
    return ApiError(500, code, f"{type(exc).__name__}: {exc}")
