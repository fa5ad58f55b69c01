"""ASGI middleware: API-token authentication and a request body limit.

Both are plain ASGI (not Starlette's ``BaseHTTPMiddleware``) so that they see the
request before any of it is read and add no task per request.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Collection

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from outlast.http.errors import (
    ERR_MALFORMED_REQUEST,
    ERR_REQUEST_TOO_LARGE,
    ERR_UNAUTHORIZED,
    error_response,
)

TOKEN_HEADER = "dapr-api-token"


class TokenAuthMiddleware:
    """Every request must carry ``token`` in the ``dapr-api-token`` header (as with
    Dapr's ``DAPR_API_TOKEN``), except on ``exempt`` paths: health probes, which
    orchestrators call without credentials. ``applies``: when given, only the
    requests it says yes to are checked (the others, the dashboard's, check the
    token their own way)."""

    def __init__(
        self,
        app: ASGIApp,
        token: str,
        exempt: Collection[str] = (),
        applies: Callable[[Scope], bool] | None = None,
    ) -> None:
        self.app = app
        self._token = token.encode()
        self._exempt = frozenset(exempt)
        self._applies = applies

    def _checks(self, scope: Scope) -> bool:
        if scope["path"] in self._exempt:
            return False
        return self._applies is None or self._applies(scope)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._checks(scope):
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get(TOKEN_HEADER)
        if given is None:
            message = f"missing API token: send it in the {TOKEN_HEADER!r} header"
        elif not hmac.compare_digest(given.encode(), self._token):
            message = "invalid API token"
        else:
            await self.app(scope, receive, send)
            return
        response = error_response(401, ERR_UNAUTHORIZED, message)
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413: at once when the
    Content-Length says so, else as soon as the streamed body passes the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await error_response(400, ERR_MALFORMED_REQUEST, "invalid Content-Length")(
                    scope, receive, send
                )
                return
            if declared > self.max_bytes:
                await self._refuse(scope, receive, send)
                return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            ERR_REQUEST_TOO_LARGE,
            f"the request body is larger than the limit of {self.max_bytes} bytes",
            {"Connection": "close"},
        )
        await response(scope, receive, send)
