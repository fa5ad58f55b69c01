"""The schedule handlers (an outlast extra, under ``/v1.0*/schedules``), mixed into
``WorkflowApi``. Bodies and answers are the shapes of
``outlast.client.schedule_json``; which URL reaches which handler is in
:mod:`.routes`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from outlast.client.schedule_json import (
    schedule_arguments,
    schedule_json,
    schedule_list_json,
)
from outlast.http import requests as rq
from outlast.http.errors import ERR_SCHEDULE_NOT_FOUND, ApiError, json_response, malformed

if TYPE_CHECKING:
    from outlast.client.client import WorkflowClient

T = TypeVar("T")

ERR_CREATE_SCHEDULE: Final = "ERR_CREATE_SCHEDULE"
ERR_GET_SCHEDULE: Final = "ERR_GET_SCHEDULE"
ERR_UPDATE_SCHEDULE: Final = "ERR_UPDATE_SCHEDULE"
ERR_DELETE_SCHEDULE: Final = "ERR_DELETE_SCHEDULE"
ERR_TRIGGER_SCHEDULE: Final = "ERR_TRIGGER_SCHEDULE"
ERR_BACKFILL_SCHEDULE: Final = "ERR_BACKFILL_SCHEDULE"

_RECENT_RUNS: Final = ("recentRuns", 10, 0, 100)


def schedule_not_found(schedule_id: str) -> ApiError:
    return ApiError(404, ERR_SCHEDULE_NOT_FOUND, f"no schedule with ID {schedule_id!r}")


def _id(request: Request) -> str:
    value: str = request.path_params["scheduleID"]
    return value


class ScheduleHandlers:
    """Create, read, change and fire schedules over HTTP."""

    if TYPE_CHECKING:  # WorkflowApi's
        client: WorkflowClient

        async def _call(
            self, code: str, fn: Callable[..., T], *args: Any, subject: str | None = None, **kw: Any
        ) -> T: ...

    async def _body(self, request: Request, *, create: bool) -> dict[str, Any]:
        body = await rq.json_body(request)
        try:
            return schedule_arguments({} if body is rq.NO_BODY else body, create=create)
        except ValueError as e:
            raise malformed(str(e)) from None

    async def _answer(self, schedule_id: str, code: str, status: int = 200) -> Response:
        found = await self._call(code, self.client.get_schedule, schedule_id)
        if found is None:
            raise schedule_not_found(schedule_id)
        return json_response(schedule_json(found), status)

    async def list_schedules(self, request: Request) -> Response:
        page = await self._call(
            ERR_GET_SCHEDULE,
            self.client.list_schedules,
            page_size=rq.integer(request, "pageSize", 100, 1, 1000),
            continuation_token=rq.text(request, "continuationToken"),
            recent_runs=rq.integer(request, "recentRuns", 5, 0, 100),
        )
        return json_response(schedule_list_json(page.schedules, page.continuation_token))

    async def create_schedule(self, request: Request) -> Response:
        kwargs = await self._body(request, create=True)
        sid = kwargs.pop("schedule_id")
        workflow = kwargs.pop("workflow")
        made = await self._call(
            ERR_CREATE_SCHEDULE, self.client.create_schedule, sid, workflow, **kwargs
        )
        location = str(request.url.replace(path=f"{request.url.path}/{made.schedule_id}", query=""))
        return json_response(schedule_json(made), 201, {"Location": location})

    async def get_schedule(self, request: Request) -> Response:
        runs = rq.integer(request, *_RECENT_RUNS)
        found = await self._call(
            ERR_GET_SCHEDULE, self.client.get_schedule, _id(request), recent_runs=runs
        )
        if found is None:
            raise schedule_not_found(_id(request))
        return json_response(schedule_json(found))

    async def update_schedule(self, request: Request) -> Response:
        kwargs = await self._body(request, create=False)
        changed = await self._call(
            ERR_UPDATE_SCHEDULE, self.client.update_schedule, _id(request), **kwargs
        )
        return json_response(schedule_json(changed))

    async def delete_schedule(self, request: Request) -> Response:
        if not await self._call(ERR_DELETE_SCHEDULE, self.client.delete_schedule, _id(request)):
            raise schedule_not_found(_id(request))
        return Response(status_code=204)

    async def pause_schedule(self, request: Request) -> Response:
        note = rq.text(request, "note")
        await self._call(ERR_UPDATE_SCHEDULE, self.client.pause_schedule, _id(request), note=note)
        return await self._answer(_id(request), ERR_UPDATE_SCHEDULE)

    async def resume_schedule(self, request: Request) -> Response:
        note = rq.text(request, "note")
        await self._call(ERR_UPDATE_SCHEDULE, self.client.resume_schedule, _id(request), note=note)
        return await self._answer(_id(request), ERR_UPDATE_SCHEDULE)

    async def trigger_schedule(self, request: Request) -> Response:
        iid = await self._call(ERR_TRIGGER_SCHEDULE, self.client.trigger_schedule, _id(request))
        return json_response({"instanceID": iid}, 202)

    async def backfill_schedule(self, request: Request) -> Response:
        body = await rq.json_body(request)
        if not isinstance(body, dict) or set(body) != {"start", "end"}:
            raise malformed('a backfill takes {"start": time, "end": time} (RFC 3339)')
        try:
            bounds = schedule_arguments(
                {"startAt": body["start"], "endAt": body["end"]}, create=False
            )
        except ValueError as e:
            raise malformed(str(e).replace("startAt", "start").replace("endAt", "end")) from None
        if bounds["start_at"] is None or bounds["end_at"] is None:
            raise malformed("a backfill needs both start and end")
        started = await self._call(
            ERR_BACKFILL_SCHEDULE,
            self.client.backfill_schedule,
            _id(request),
            bounds["start_at"],
            bounds["end_at"],
        )
        return json_response({"instanceIDs": started}, 202)
