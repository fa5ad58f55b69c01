"""``create_app``: the ASGI application serving a :class:`WorkflowClient`."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from typing import Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Scope

from outlast.client.client import WorkflowClient
from outlast.core.serialization import default_max_payload_bytes
from outlast.http.errors import (
    ERR_INTERNAL,
    ERR_METHOD_NOT_ALLOWED,
    ERR_NOT_FOUND,
    ApiError,
    error_response,
    json_response,
    log,
)
from outlast.http.handlers import API_PREFIXES, WorkflowApi
from outlast.http.middleware import BodyLimitMiddleware, TokenAuthMiddleware
from outlast.http.openapi import build_openapi
from outlast.http.routes import ENDPOINTS
from outlast.runtime.runtime import WorkflowRuntime

# Room for a payload of the largest size the client accepts, plus the JSON around it,
# so that an oversized payload gets the payload limit's more precise error.
_BODY_SLACK: Final = 64 * 1024
TOKEN_ENV_VARS: Final = ("OUTLAST_API_TOKEN", "DAPR_API_TOKEN")


def token_from_env() -> str | None:
    for name in TOKEN_ENV_VARS:
        value = os.environ.get(name)
        if value:
            return value
    return None


def api_of(app: Starlette) -> WorkflowApi:
    """The handlers behind an app made by :func:`create_app`."""
    api = app.state.outlast
    assert isinstance(api, WorkflowApi)
    return api


def create_app(
    client: WorkflowClient,
    *,
    runtime: WorkflowRuntime | None = None,
    api_token: str | None = None,
    max_body_size: int | None = None,
    max_wait_seconds: float = 300.0,
    dashboard: bool = True,
) -> Starlette:
    """The HTTP API over ``client``, and the dashboard at ``/`` (``dashboard``).

    ``api_token``: required in the ``dapr-api-token`` header of every request (but
    health probes); by default ``$OUTLAST_API_TOKEN`` or ``$DAPR_API_TOKEN``, none
    if neither is set. ``max_body_size``: larger request bodies get 413; by default
    the payload limit (``$OUTLAST_MAX_PAYLOAD_BYTES``, 4 MiB) plus 64 KiB.
    ``max_wait_seconds``: the longest a long-poll may wait. The dashboard checks
    the token itself (a cookie set once from a password prompt), so its paths are
    left to it; the API's paths still take the token only in the header.
    """
    token = api_token if api_token is not None else token_from_env()
    api = WorkflowApi(client, runtime=runtime, max_wait_seconds=max_wait_seconds)
    openapi_body = json_response(build_openapi(secured=bool(token))).body

    async def openapi(request: Request) -> Response:
        return Response(openapi_body, media_type="application/json")

    routes: list[BaseRoute] = [Route("/openapi.json", openapi, methods=["GET"])]
    is_page: Callable[[Scope], bool] | None = None
    if dashboard:
        # Imported here: the API alone does without Jinja2.
        from outlast.dashboard import create_dashboard, is_dashboard_request

        is_page = is_dashboard_request
        routes.append(_Pages(create_dashboard(client, api_token=token), is_page))
    for endpoint in ENDPOINTS:
        prefixes = API_PREFIXES if endpoint.versioned else ("",)
        routes.extend(
            Route(prefix + endpoint.path, endpoint.bind(api), methods=[endpoint.method])
            for prefix in prefixes
        )

    body_limit = max_body_size or default_max_payload_bytes() + _BODY_SLACK
    middleware = [Middleware(BodyLimitMiddleware, max_bytes=body_limit)]
    if token:
        exempt = [e.path for e in ENDPOINTS if not e.auth]
        middleware.insert(
            0,
            Middleware(
                TokenAuthMiddleware,
                token=token,
                exempt=exempt,
                applies=None if is_page is None else (lambda scope: not is_page(scope)),
            ),
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        api.stop()

    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
        lifespan=lifespan,
    )
    app.state.outlast = api
    return app


class _Pages(Mount):
    """The dashboard, at ``/``, for the requests it says are its own (a browser's
    ``GET /``, its pages and files); the API keeps every other path, its JSON
    errors for unknown ones included."""

    def __init__(self, app: ASGIApp, owns: Callable[[Scope], bool]) -> None:
        super().__init__("/", app=app)
        self._owns = owns

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and self._owns(scope):
            return super().matches(scope)
        return Match.NONE, {}


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(404, ERR_NOT_FOUND, f"no route for {request.url.path}")
    if exc.status_code == 405:
        return error_response(
            405,
            ERR_METHOD_NOT_ALLOWED,
            f"{request.method} is not allowed on {request.url.path}",
            {**(exc.headers or {}), "Allow": _allowed(request)},
        )
    return error_response(exc.status_code, ERR_INTERNAL, str(exc.detail))


def _allowed(request: Request) -> str:
    """The methods of the path the request matched: Starlette's 405 names only the
    first route's, and a path can have a route per method."""
    routes = [r for r in request.app.routes if isinstance(r, Route) and r.methods]
    first = next((r for r in routes if r.matches(request.scope)[0] is not Match.NONE), None)
    if first is None:
        return ""
    methods = set().union(*(r.methods or () for r in routes if r.path == first.path))
    return ", ".join(sorted(methods))


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, ERR_INTERNAL, "internal server error")
