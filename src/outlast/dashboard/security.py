"""The dashboard's guards: security headers on every response, the API token as
an HttpOnly cookie, and CSRF protection of every POST.

The cookie does not hold the token itself but a MAC derived from it, so a cookie
that leaks is no API credential. CSRF protection is a double-submit token (a
random value in a SameSite=Strict cookie, repeated in each form) plus an Origin
check; with the token cookie also SameSite=Strict, a cross-site form post carries
neither.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Collection
from typing import Final
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE: Final = "outlast_session"
CSRF_COOKIE: Final = "outlast_csrf"
CSRF_FIELD: Final = "csrf"
TOKEN_HEADER: Final = "dapr-api-token"
# No inline script, no eval, nothing from elsewhere; styles only from our sheet.
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS: Final = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


class SecurityHeaders:
    """Adds :data:`HEADERS` to every response (static files keep their caching)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = "/static/" in scope["path"]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    if not (static and name == "cache-control"):
                        headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)


def session_value(token: str) -> str:
    """What the session cookie holds for ``token``."""
    return hmac.new(token.encode(), b"outlast dashboard session", hashlib.sha256).hexdigest()


class Gate:
    """Whether a request may see the dashboard: always without a token; with one,
    when it carries the session cookie (or the token in the API's header)."""

    def __init__(self, token: str | None, open_paths: Collection[str] = ()) -> None:
        self.token = token
        self._session = session_value(token) if token else None
        self._open = tuple(open_paths)

    @property
    def enabled(self) -> bool:
        return self.token is not None

    def allows(self, request: Request) -> bool:
        if self.token is None or self._session is None:
            return True
        path = request.url.path[len(request.scope.get("root_path", "")) :]
        if path.startswith(self._open):
            return True
        cookie = request.cookies.get(SESSION_COOKIE, "")
        if cookie and hmac.compare_digest(cookie.encode(), self._session.encode()):
            return True
        header = request.headers.get(TOKEN_HEADER, "")
        return bool(header) and hmac.compare_digest(header.encode(), self.token.encode())

    def check(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def log_in(self, response: Response, request: Request) -> None:
        assert self._session is not None
        response.set_cookie(
            SESSION_COOKIE,
            self._session,
            path=cookie_path(request),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )


def cookie_path(request: Request) -> str:
    return str(request.scope.get("root_path", "")) or "/"


def csrf_token(request: Request) -> str:
    """The request's CSRF token: its cookie's, or a new one (then the response must
    set it: :func:`keep_csrf`)."""
    token = request.cookies.get(CSRF_COOKIE)
    if not token or len(token) < 20:
        token = request.state.__dict__.setdefault("new_csrf", secrets.token_urlsafe(32))
    return token


def keep_csrf(response: Response, request: Request) -> None:
    new = request.state.__dict__.get("new_csrf")
    if new:
        response.set_cookie(
            CSRF_COOKIE,
            new,
            path=cookie_path(request),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )


def csrf_problem(request: Request, submitted: str | None) -> str | None:
    """Why a POST fails the CSRF check, or None if it passes."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != _own_host(request.headers, request):
        return "this form was sent from another site"
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not submitted:
        return "the form's security token is missing: reload the page and try again"
    if not hmac.compare_digest(cookie.encode(), submitted.encode()):
        return "the form's security token does not match: reload the page and try again"
    return None


def _own_host(headers: Headers, request: Request) -> str:
    # The host only: behind a proxy that ends TLS the scheme seen here is http
    # while the browser's Origin says https.
    return headers.get("host") or request.url.netloc
