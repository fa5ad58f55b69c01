"""``create_dashboard``: the dashboard as an ASGI application over a client.

Routes, relative to where it is mounted::

    GET  /                                    the instances list (filters in the query)
    GET  /instances/{id}                      one instance
    GET  /instances/{id}/payload/{field}      its input, output or custom status, whole
    GET  /instances/{id}/events/{n}/{field}   a payload of history event n, whole
    POST /instances/{id}/{action}             raise, suspend, resume, terminate, rerun, purge
    POST /bulk                                terminate or purge by filter (dry run first)
    GET  /schedules                           the schedules, next runs and latest runs
    POST /schedules/{id}/{action}             pause, resume or trigger a schedule
    GET  /login, POST /login, POST /logout    the token prompt, when a token is set
    GET  /static/...                          the stylesheet and script
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import anyio.to_thread
from starlette.applications import Starlette
from starlette.datastructures import FormData, Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from outlast.client.client import WorkflowClient
from outlast.dashboard import actions, pages, schedules
from outlast.dashboard.actions import ActionError
from outlast.dashboard.filters import STATUSES, ListFilter
from outlast.dashboard.render import environment
from outlast.dashboard.security import (
    CSRF_FIELD,
    SESSION_COOKIE,
    Gate,
    SecurityHeaders,
    cookie_path,
    csrf_problem,
    csrf_token,
    keep_csrf,
)
from outlast.errors import InstanceNotFoundError

log = logging.getLogger("outlast.dashboard")
T = TypeVar("T")
STATIC = Path(__file__).parent / "static"
_DONE = {
    "suspend": "Suspend requested.",
    "resume": "Resume requested.",
    "terminate": "Terminate requested.",
    "raise": "Event raised.",
    "rerun": "This instance reruns another from one of its events.",
}


class Dashboard:
    """The handlers, holding the client, the templates and the gate."""

    def __init__(self, client: WorkflowClient, gate: Gate, refresh_seconds: float) -> None:
        self.client = client
        self.gate = gate
        self.refresh = refresh_seconds
        self.env = environment()

    async def _blocking(self, fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(functools.partial(fn, *args))

    def _render(self, request: Request, template: str, **ctx: Any) -> str:
        ctx.update(
            base=_base(request),
            csrf=csrf_token(request),
            csrf_field=CSRF_FIELD,
            token_set=self.gate.enabled,
            statuses=STATUSES,
            refresh_ms=int(self.refresh * 1000),
        )
        return self.env.get_template(template).render(**ctx)

    async def page(
        self, request: Request, template: str, status_code: int = 200, **ctx: Any
    ) -> Response:
        html = await self._blocking(functools.partial(self._render, request, template, **ctx))
        response = HTMLResponse(html, status_code)
        keep_csrf(response, request)
        return response

    async def message_page(self, request: Request, message: str, status_code: int) -> Response:
        return await self.page(request, "message.html", status_code, message=message)

    # --- pages ----------------------------------------------------------------------

    async def instances(self, request: Request) -> Response:
        f = ListFilter.read(request.query_params)
        if f.errors:
            return await self.page(request, "list.html", 400, view=None, filter=f)
        cursor = request.query_params.get("cursor") or None
        try:
            view = await self._blocking(pages.list_page, self.client, f, cursor)
        except ValueError as e:
            f.errors.append(str(e))
            return await self.page(request, "list.html", 400, view=None, filter=f)
        return await self.page(request, "list.html", view=view, filter=f)

    async def instance(self, request: Request) -> Response:
        iid = request.path_params["instance_id"]
        done = _DONE.get(request.query_params.get("done", ""))
        return await self._instance(request, iid, message=done)

    async def _instance(
        self,
        request: Request,
        iid: str,
        *,
        message: str | None = None,
        error: str | None = None,
        status_code: int = 200,
    ) -> Response:
        try:
            view = await self._blocking(
                pages.instance_page, self.client, iid, request.query_params, time.time()
            )
        except InstanceNotFoundError as e:
            return await self.message_page(request, str(e), 404)
        return await self.page(
            request,
            "instance.html",
            status_code,
            view=view,
            message=message,
            error=error,
            params=request.query_params,
        )

    async def payload(self, request: Request) -> Response:
        iid = request.path_params["instance_id"]
        name = request.path_params["field"]
        seq = request.path_params.get("seq")
        if seq is None:
            text = await self._blocking(self._state_payload, iid, name)
        else:
            try:
                text = await self._blocking(pages.payload, self.client, iid, int(seq), name)
            except (InstanceNotFoundError, ValueError):
                text = None
        if text is None:
            return PlainTextResponse("no such payload", 404)
        return PlainTextResponse(text)

    def _state_payload(self, iid: str, name: str) -> str | None:
        state = self.client.get_workflow_state(iid, fetch_payloads=True)
        if state is None:
            return None
        return {
            "input": state.serialized_input,
            "output": state.serialized_output,
            "custom_status": state.serialized_custom_status,
        }.get(name)

    # --- actions --------------------------------------------------------------------

    async def _form(self, request: Request) -> FormData | Response:
        form = await request.form()
        problem = csrf_problem(request, _text(form.get(CSRF_FIELD)))
        if problem is not None:
            return await self.message_page(request, problem, 403)
        return form

    async def act(self, request: Request) -> Response:
        iid = request.path_params["instance_id"]
        action = request.path_params["action"]
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        base = _base(request)
        try:
            if action == "rerun":
                new_id = await self._blocking(actions.rerun, self.client, iid, form)
                return RedirectResponse(f"{base}/instances/{new_id}?done=rerun", 303)
            run = actions.INSTANCE_ACTIONS.get(action)
            if run is None:
                raise ActionError(f"unknown action {action!r}", 404)
            message = await self._blocking(run, self.client, iid, form)
        except ActionError as e:
            if e.status_code == 404:
                return await self.message_page(request, e.message, 404)
            return await self._instance(request, iid, error=e.message, status_code=e.status_code)
        if action == "purge":
            return await self.message_page(request, message, 200)
        return RedirectResponse(f"{base}/instances/{iid}?done={action}", 303)

    async def bulk(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        f = ListFilter.read(form)
        action = _text(form.get("action")) or ""
        try:
            plan = await self._blocking(actions.bulk_plan, self.client, action, f)
            if _text(form.get("confirm")) != "yes":
                return await self.page(request, "bulk.html", plan=plan, filter=f)
            message = await self._blocking(actions.bulk_run, self.client, plan)
        except ActionError as e:
            return await self.message_page(request, e.message, e.status_code)
        return await self.page(request, "bulk.html", plan=None, filter=f, message=message)

    async def schedules(self, request: Request) -> Response:
        cursor = request.query_params.get("cursor") or None
        view = await self._blocking(schedules.schedules_page, self.client, cursor)
        notice = schedules.done_message(request.query_params)
        return await self.page(request, "schedules.html", view=view, now=time.time(), notice=notice)

    async def schedule_act(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        sid = request.path_params["schedule_id"]
        action = request.path_params["action"]
        note = _text(form.get("note"))
        try:
            message = await self._blocking(
                schedules.schedule_action, self.client, sid, action, note
            )
        except ActionError as e:
            return await self.message_page(request, e.message, e.status_code)
        query = urlencode({"done": action, "schedule": sid, "started": message})
        return RedirectResponse(f"{_base(request)}/schedules?{query}", 303)

    # --- the token prompt -----------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        target = _local(request.query_params.get("next"), _base(request))
        return await self.page(request, "login.html", next=target)

    async def login(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        target = _local(_text(form.get("next")), _base(request))
        if not self.gate.enabled:
            return RedirectResponse(target, 303)
        if not self.gate.check(_text(form.get("token")) or ""):
            return await self.page(
                request, "login.html", 401, next=target, error="That token is not the one set."
            )
        response = RedirectResponse(target, 303)
        self.gate.log_in(response, request)
        return response

    async def logout(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        base = _base(request)
        response = RedirectResponse(f"{base}/login", 303)
        response.delete_cookie(SESSION_COOKIE, path=cookie_path(request))
        return response


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _base(request: Request) -> str:
    """Where the dashboard is mounted ("" at the root)."""
    return str(request.scope.get("root_path", ""))


def _local(target: str | None, base: str = "") -> str:
    """Only a path on this site may be a redirect target (no open redirect); else
    the instances list."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return base + "/"
    return target


def _gated(
    dashboard: Dashboard, handler: Callable[[Request], Awaitable[Response]]
) -> Callable[[Request], Awaitable[Response]]:
    """``handler``, for requests the gate lets in; others get the token prompt (a
    page for browsers, 401 all the same)."""

    async def guarded(request: Request) -> Response:
        if dashboard.gate.allows(request):
            return await handler(request)
        base = _base(request)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            return await dashboard.page(request, "login.html", 401, next=_local(target, base))
        return PlainTextResponse(
            f"the dashboard needs the API token: log in at {base}/login?"
            + urlencode({"next": _local(target, base)}),
            401,
        )

    return guarded


# The dashboard's own top-level paths, besides a browser's GET / (see
# is_dashboard_request).
_PREFIXES = ("/instances/", "/static/", "/schedules/")
_PATHS = frozenset({"/bulk", "/login", "/logout", "/schedules"})


def is_dashboard_request(scope: Scope) -> bool:
    """Whether a request to an app that serves the dashboard at ``/`` beside other
    routes (``outlast serve``'s API) is for the dashboard: a page of it, or ``/``
    asked for by a browser (the others get what else is at ``/``)."""
    path: str = scope["path"]
    if path == "/":
        return "text/html" in Headers(scope=scope).get("accept", "")
    return path in _PATHS or path.startswith(_PREFIXES)


def create_dashboard(
    client: WorkflowClient,
    *,
    api_token: str | None = None,
    refresh_seconds: float = 2.0,
) -> Starlette:
    """The dashboard over ``client``, as an ASGI app to serve or to mount::

        from starlette.routing import Mount
        app = Starlette(routes=[Mount("/workflows", app=create_dashboard(client))])

    ``api_token``: when set, the dashboard asks for it once and keeps it in an
    HttpOnly, SameSite=Strict cookie (requests carrying it in the
    ``dapr-api-token`` header are let in too). ``refresh_seconds``: how often open
    pages refresh themselves while something can change."""
    gate = Gate(api_token or None, open_paths=("/login", "/static/"))
    d = Dashboard(client, gate, refresh_seconds)
    iid = "{instance_id}"
    routes = [
        Route("/", _gated(d, d.instances), methods=["GET"]),
        Route(f"/instances/{iid}", _gated(d, d.instance), methods=["GET"]),
        Route(f"/instances/{iid}/payload/{{field}}", _gated(d, d.payload), methods=["GET"]),
        Route(
            f"/instances/{iid}/events/{{seq:int}}/{{field}}",
            _gated(d, d.payload),
            methods=["GET"],
        ),
        Route(f"/instances/{iid}/{{action}}", _gated(d, d.act), methods=["POST"]),
        Route("/bulk", _gated(d, d.bulk), methods=["POST"]),
        Route("/schedules", _gated(d, d.schedules), methods=["GET"]),
        Route("/schedules/{schedule_id}/{action}", _gated(d, d.schedule_act), methods=["POST"]),
        Route("/login", d.login_form, methods=["GET"]),
        Route("/login", d.login, methods=["POST"]),
        Route("/logout", d.logout, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return await d.message_page(request, f"Nothing here: {request.url.path}", 404)
        if exc.status_code == 405:
            return await d.message_page(request, f"{request.method} is not allowed here", 405)
        return await d.message_page(request, str(exc.detail), exc.status_code)

    async def internal(request: Request, exc: Exception) -> Response:
        log.error("dashboard error on %s %s", request.method, request.url.path, exc_info=exc)
        return PlainTextResponse("internal error (see the server log)", 500)

    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={HTTPException: not_found, Exception: internal},
    )
    app.state.dashboard = d
    return app
