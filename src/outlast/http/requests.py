"""Reading requests: instance IDs, JSON bodies and query parameters, each failing
with the Dapr error a client expects."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any, Final

import orjson
from starlette.requests import Request

from outlast.client.dapr_json import parse_rfc3339
from outlast.core.status import WorkflowStatus
from outlast.http.errors import (
    ERR_INSTANCE_ID_INVALID,
    ERR_INSTANCE_ID_PROVIDED_MISSING,
    ERR_INSTANCE_ID_TOO_LONG,
    ApiError,
    malformed,
)

MAX_INSTANCE_ID_LENGTH: Final = 64
_ID_CLASS: Final = "[A-Za-z0-9_-]"
_ID_CHARS = re.compile(f"{_ID_CLASS}+")


def instance_id_schema(*, optional: bool = False) -> dict[str, Any]:
    """The JSON schema of what :func:`instance_id` accepts, for the OpenAPI
    document; ``optional``: a query parameter, where empty means "generate one"."""
    shortest = 0 if optional else 1
    return {
        "type": "string",
        "pattern": f"^{_ID_CLASS}{{{shortest},{MAX_INSTANCE_ID_LENGTH}}}$",
        "minLength": shortest,
        "maxLength": MAX_INSTANCE_ID_LENGTH,
    }


class _NoBody:
    def __repr__(self) -> str:
        return "NO_BODY"


NO_BODY: Final = _NoBody()
"""What :func:`json_body` returns for an empty body (as opposed to JSON ``null``)."""


def instance_id(value: str) -> str:
    if not value:
        raise ApiError(400, ERR_INSTANCE_ID_PROVIDED_MISSING, "no instance ID was provided")
    if not _ID_CHARS.fullmatch(value):
        raise ApiError(
            400,
            ERR_INSTANCE_ID_INVALID,
            f"workflow instance ID '{value}' is invalid: only alphanumeric, underscore "
            "and dash characters are allowed",
        )
    if len(value) > MAX_INSTANCE_ID_LENGTH:
        raise ApiError(
            400,
            ERR_INSTANCE_ID_TOO_LONG,
            f"workflow instance ID exceeds the max length of {MAX_INSTANCE_ID_LENGTH} characters",
        )
    return value


def optional_instance_id(request: Request, *names: str) -> str | None:
    """The first of the query parameters ``names`` that is set; empty counts as unset
    (Dapr then generates an ID)."""
    for name in names:
        value = request.query_params.get(name)
        if value:
            return instance_id(value)
    return None


async def json_body(request: Request) -> Any:
    """The body parsed as JSON, whatever its Content-Type (``curl -d`` sends
    ``application/x-www-form-urlencoded``); :data:`NO_BODY` if it is empty."""
    raw = await request.body()
    if not raw.strip():
        return NO_BODY
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise malformed(f"the request body is not valid JSON: {e}") from None


def text(request: Request, name: str) -> str | None:
    return request.query_params.get(name) or None


def boolean(request: Request, name: str, default: bool = False) -> bool:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise malformed(f"query parameter {name!r} must be true or false, not {value!r}")


def integer(request: Request, name: str, default: int, low: int, high: int) -> int:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise malformed(f"query parameter {name!r} must be an integer, not {value!r}") from None
    if not low <= number <= high:
        raise malformed(f"query parameter {name!r} must be between {low} and {high}")
    return number


def seconds(request: Request, name: str, default: float) -> float:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value.removesuffix("s"))
    except ValueError:
        raise malformed(
            f"query parameter {name!r} must be a number of seconds, not {value!r}"
        ) from None
    if not math.isfinite(number) or number < 0:
        raise malformed(f"query parameter {name!r} must be a non-negative number of seconds")
    return number


def timestamp(request: Request, name: str) -> datetime | None:
    value = request.query_params.get(name)
    if not value:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        raise malformed(
            f"query parameter {name!r} must be an RFC 3339 time such as "
            f"2024-01-31T12:00:00Z, not {value!r}"
        ) from None


def statuses(request: Request, name: str = "status") -> list[WorkflowStatus] | None:
    """``?status=RUNNING&status=FAILED`` or ``?status=RUNNING,FAILED``."""
    raw = [part for value in request.query_params.getlist(name) for part in value.split(",")]
    names = [part.strip().upper() for part in raw if part.strip()]
    if not names:
        return None
    try:
        return [WorkflowStatus(n) for n in names]
    except ValueError:
        known = ", ".join(s.value for s in WorkflowStatus)
        raise malformed(f"unknown status in {raw!r}; use one of {known}") from None
