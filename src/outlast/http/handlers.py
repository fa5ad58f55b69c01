"""The request handlers: Dapr's workflow API plus outlast's extras.

Every handler reads its request, calls the blocking :class:`WorkflowClient` in a
worker thread (never on the event loop) and answers with Dapr's shapes and codes.
Which URL reaches which handler is in :mod:`.routes`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from outlast.client.client import IfExists, WorkflowClient
from outlast.client.dapr_json import history_json, list_json, status_json
from outlast.client.state import PendingActivity, WorkflowState
from outlast.core.flow import check_key, check_priority
from outlast.core.status import TERMINAL_STATUSES, WorkflowStatus
from outlast.http import requests as rq
from outlast.http.errors import (
    ERR_GET_WORKFLOW,
    ERR_GET_WORKFLOW_HISTORY,
    ERR_LIST_WORKFLOWS,
    ERR_NOT_IMPLEMENTED,
    ERR_PAUSE_WORKFLOW,
    ERR_PURGE_WORKFLOW,
    ERR_RAISE_EVENT_WORKFLOW,
    ERR_RERUN_WORKFLOW,
    ERR_RESUME_WORKFLOW,
    ERR_START_WORKFLOW,
    ERR_TERMINATE_WORKFLOW,
    ERR_WORKFLOW_EVENT_NAME_MISSING,
    ERR_WORKFLOW_NAME_MISSING,
    ApiError,
    from_exception,
    json_response,
    malformed,
    not_found,
)
from outlast.http.schedules import ScheduleHandlers
from outlast.http.service import API_PREFIXES as API_PREFIXES  # app.py, openapi.py use it
from outlast.http.service import ServiceHandlers
from outlast.http.waits import DEFAULT_WAIT_SECONDS as DEFAULT_WAIT_SECONDS  # routes.py uses it
from outlast.http.waits import WaitHandlers
from outlast.runtime.runtime import WorkflowRuntime
from outlast.tracing import traceparent_scope

T = TypeVar("T")


def _status_filter(request: Request) -> list[WorkflowStatus | str] | None:
    statuses = rq.statuses(request)
    return [s.value for s in statuses] if statuses else None


def _location(request: Request, trailing_segments: int, instance_id: str) -> str:
    """The status URL of ``instance_id``, next to the collection the request path is
    in (``.../workflows/{component}``), under the same API version prefix. A path
    only: the request's Host header is the client's to write, not ours to echo."""
    collection = request.url.path.rsplit("/", trailing_segments)[0]
    return quote(f"{collection}/{instance_id}")


class WorkflowApi(ScheduleHandlers, WaitHandlers, ServiceHandlers):
    """The request handlers, bound to one client (and optionally the runtime that
    runs next to it, for the health report); the schedule handlers are
    ``ScheduleHandlers``', the long-polls ``WaitHandlers``', metrics and health
    ``ServiceHandlers``'."""

    def __init__(
        self,
        client: WorkflowClient,
        *,
        runtime: WorkflowRuntime | None = None,
        max_wait_seconds: float = 300.0,
        max_concurrent_waits: int = 1000,
    ) -> None:
        self.client = client
        self.runtime = runtime
        self.max_wait_seconds = max_wait_seconds
        self._max_concurrent_waits = max_concurrent_waits
        self._wait_limiter: anyio.CapacityLimiter | None = None
        self._stopping = threading.Event()
        self._metrics: Callable[[Request], Awaitable[Response]] | None = None

    def stop(self) -> None:
        """Make pending long-polls answer now (the server is shutting down)."""
        self._stopping.set()

    # --- plumbing ------------------------------------------------------------------

    async def _call(
        self,
        code: str,
        fn: Callable[..., T],
        *args: Any,
        subject: str | None = None,
        **kwargs: Any,
    ) -> T:
        # ``subject``: the instance the request is about, for a 404's message.
        try:
            return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
        except Exception as e:
            raise from_exception(e, code, subject) from e

    # --- Dapr's workflow API -------------------------------------------------------

    async def start(self, request: Request) -> Response:
        name = request.path_params["workflowName"]
        iid = rq.optional_instance_id(request, "instanceID", "instanceId")
        return await self._start(request, name, iid, trailing_segments=2)

    async def start_legacy(self, request: Request) -> Response:
        # The first alpha API put the ID in the path: /{workflowName}/{instanceID}/start
        name = request.path_params["workflowName"]
        iid = rq.instance_id(request.path_params["instanceID"])
        return await self._start(request, name, iid, trailing_segments=3)

    async def _start(
        self, request: Request, name: str, iid: str | None, trailing_segments: int
    ) -> Response:
        body = await rq.json_body(request)
        key, priority = _flow(request)
        # The caller's trace (W3C header) becomes the run's parent, stored with it.
        with traceparent_scope(request.headers.get("traceparent")):
            new_id = await self._call(
                ERR_START_WORKFLOW,
                self.client.schedule_new_workflow,
                name,
                input=None if body is rq.NO_BODY else body,
                instance_id=iid,
                if_exists=_if_exists(request),
                key=key,
                priority=priority,
            )
        location = _location(request, trailing_segments, new_id)
        return json_response({"instanceID": new_id}, 202, {"Location": location})

    async def start_without_name(self, request: Request) -> Response:
        raise ApiError(400, ERR_WORKFLOW_NAME_MISSING, "workflow name is not configured")

    async def get(self, request: Request) -> Response:
        iid = rq.instance_id(request.path_params["instanceID"])
        found = await self._call(ERR_GET_WORKFLOW, self._status, iid)
        if found is None:
            raise not_found(iid)
        state, waiting = found
        return json_response(status_json(state, waiting=waiting))

    def _status(self, iid: str) -> tuple[WorkflowState, list[PendingActivity]] | None:
        """The instance's state and, while it runs, what of it waits behind a limit
        (docs/flow-control.md), to show as such: both read in one trip to a thread."""
        state = self.client.get_workflow_state(iid)
        if state is None:
            return None
        waiting: list[PendingActivity] = []
        if state.runtime_status in (WorkflowStatus.RUNNING, WorkflowStatus.PENDING):
            waiting = self.client.get_pending_activities(iid)
        return state, waiting

    async def raise_event(self, request: Request) -> Response:
        iid = rq.instance_id(request.path_params["instanceID"])
        event = request.path_params["eventName"]
        body = await rq.json_body(request)
        await self._call(
            ERR_RAISE_EVENT_WORKFLOW,
            self.client.raise_workflow_event,
            iid,
            event,
            data=None if body is rq.NO_BODY else body,
            subject=iid,
        )
        return Response(status_code=202)

    async def raise_without_name(self, request: Request) -> Response:
        rq.instance_id(request.path_params["instanceID"])
        raise ApiError(400, ERR_WORKFLOW_EVENT_NAME_MISSING, "missing workflow event name")

    async def terminate(self, request: Request) -> Response:
        iid = rq.instance_id(request.path_params["instanceID"])
        recursive = not rq.boolean(request, "non_recursive")
        body = await rq.json_body(request)
        await self._call(
            ERR_TERMINATE_WORKFLOW,
            self.client.terminate_workflow,
            iid,
            output=None if body is rq.NO_BODY else body,
            recursive=recursive,
            subject=iid,
        )
        return Response(status_code=202)

    async def pause(self, request: Request) -> Response:
        iid = rq.instance_id(request.path_params["instanceID"])
        reason = rq.text(request, "reason")
        await self._call(
            ERR_PAUSE_WORKFLOW, self.client.pause_workflow, iid, reason=reason, subject=iid
        )
        return Response(status_code=202)

    async def resume(self, request: Request) -> Response:
        iid = rq.instance_id(request.path_params["instanceID"])
        reason = rq.text(request, "reason")
        await self._call(
            ERR_RESUME_WORKFLOW, self.client.resume_workflow, iid, reason=reason, subject=iid
        )
        return Response(status_code=202)

    async def purge(self, request: Request) -> Response:
        iid = rq.instance_id(request.path_params["instanceID"])
        recursive = not rq.boolean(request, "non_recursive")
        purged = await self._call(
            ERR_PURGE_WORKFLOW,
            self.client.purge_workflow,
            iid,
            recursive=recursive,
            subject=iid,
        )
        if not purged:
            raise not_found(iid)
        return Response(status_code=202)

    # --- beyond Dapr ---------------------------------------------------------------

    async def list_instances(self, request: Request) -> Response:
        status = _status_filter(request)
        payloads = rq.boolean(request, "includePayloads")
        page = await self._call(
            ERR_LIST_WORKFLOWS,
            self.client.list_workflows,
            status=status,
            name=rq.text(request, "name"),
            created_after=rq.timestamp(request, "createdAfter"),
            created_before=rq.timestamp(request, "createdBefore"),
            page_size=rq.integer(request, "pageSize", 100, 1, 10_000),
            continuation_token=rq.text(request, "continuationToken"),
            fetch_payloads=payloads,
        )
        return json_response(list_json(page.states, page.continuation_token, payloads=payloads))

    async def purge_many(self, request: Request) -> Response:
        status = _status_filter(request)
        name = rq.text(request, "name")
        created_before = rq.timestamp(request, "createdBefore")
        everything = rq.boolean(request, "all")
        if status is None and name is None and created_before is None and not everything:
            raise malformed(
                "purging by filter needs at least one of status, name, createdBefore, "
                "or all=true to purge every finished instance"
            )
        unfinished = [str(s) for s in status or [] if str(s) not in TERMINAL_STATUSES]
        if unfinished:
            raise malformed(f"only finished instances can be purged, not {', '.join(unfinished)}")
        count = await self._call(
            ERR_PURGE_WORKFLOW,
            self.client.purge_workflows,
            status=status,
            created_before=created_before,
            name=name,
        )
        return json_response({"purged": count})

    async def history(self, request: Request) -> Response:
        iid = rq.instance_id(request.path_params["instanceID"])
        events = await self._call(
            ERR_GET_WORKFLOW_HISTORY, self.client.get_workflow_history, iid, subject=iid
        )
        return json_response(history_json(iid, events))

    async def rerun(self, request: Request) -> Response:
        iid = rq.instance_id(request.path_params["instanceID"])
        event_id: int = request.path_params["eventID"]
        new_id = rq.optional_instance_id(request, "newInstanceID", "newInstanceId")
        body = await rq.json_body(request)
        rerun = getattr(self.client, "rerun_workflow_from_event", None)
        if rerun is None:
            raise ApiError(
                501,
                ERR_NOT_IMPLEMENTED,
                "rerunning a workflow from an event is not available in this version of "
                "outlast (WorkflowClient.rerun_workflow_from_event is missing)",
            )
        kwargs: dict[str, Any] = {"new_instance_id": new_id}
        if body is not rq.NO_BODY:
            kwargs["new_input"] = body
        started = await self._call(ERR_RERUN_WORKFLOW, rerun, iid, event_id, subject=iid, **kwargs)
        location = _location(request, 3, started)
        return json_response({"instanceID": started}, 202, {"Location": location})


def _flow(request: Request) -> tuple[str | None, int]:
    """The ``key`` and ``priority`` (0..9) query parameters of a start, for a
    workflow under a limit (docs/flow-control.md)."""
    key = request.query_params.get("key")
    raw = request.query_params.get("priority", "0")
    try:
        return check_key(key), check_priority(int(raw))
    except (TypeError, ValueError) as e:
        raise ApiError(400, ERR_START_WORKFLOW, f"bad key or priority: {e}") from e


def _if_exists(request: Request) -> IfExists:
    """The ``ifExists`` query parameter of a start: error (the default),
    return_existing or terminate_and_restart."""
    value = request.query_params.get("ifExists", "error")
    if value == "return_existing":
        return "return_existing"
    if value == "terminate_and_restart":
        return "terminate_and_restart"
    if value == "error":
        return "error"
    raise ApiError(
        400,
        ERR_START_WORKFLOW,
        "ifExists must be error, return_existing or terminate_and_restart",
    )
