"""What one route is: its method and path, the handler that answers it, and what
the OpenAPI document says of it (the table of them is :mod:`.routes`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from outlast.http.handlers import WorkflowApi


@dataclass(frozen=True)
class Param:
    name: str
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    repeated: bool = False


@dataclass(frozen=True)
class Endpoint:
    """One route: where it is, which handler answers, and what OpenAPI says of it."""

    method: str
    path: str  # under an API prefix when ``versioned``
    handler: str  # a WorkflowApi method
    summary: str
    responses: dict[int, str]
    query: tuple[Param, ...] = ()
    body: str | None = None  # what a JSON request body means, if one is read
    response_schema: str | None = None  # a component schema for the 200/202 body
    versioned: bool = True
    dapr: bool = True  # part of Dapr's API (else an outlast extra)
    auth: bool = True
    operation: str = ""  # the OpenAPI operationId's stem, when not the handler's name

    def bind(self, api: WorkflowApi) -> Callable[[Request], Awaitable[Response]]:
        handler: Callable[[Request], Awaitable[Response]] = getattr(api, self.handler)
        return handler
