"""Where a ``schedule`` command acts: on a store through the client, or on a server
through ``/v1.0/schedules``. Both answer in ``Schedule`` objects and outlast errors."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from outlast.cli.backend import Backend, StoreBackend
from outlast.cli.http_backend import HttpBackend
from outlast.client.schedule_json import schedule_from_json, schedule_request_json
from outlast.client.schedule_state import Schedule
from outlast.errors import ScheduleNotFoundError

_API = "/v1.0/schedules"


class Schedules(Protocol):
    def create(self, schedule_id: str, workflow: str, **kwargs: Any) -> Schedule: ...
    def get(self, schedule_id: str, recent_runs: int) -> Schedule | None: ...
    def page(
        self, page_size: int, token: str | None, recent_runs: int
    ) -> tuple[list[Schedule], str | None]: ...
    def update(self, schedule_id: str, **kwargs: Any) -> Schedule: ...
    def pause(self, schedule_id: str, note: str | None) -> Schedule: ...
    def resume(self, schedule_id: str, note: str | None) -> Schedule: ...
    def trigger(self, schedule_id: str) -> str: ...
    def delete(self, schedule_id: str) -> bool: ...
    def backfill(self, schedule_id: str, start: datetime, end: datetime) -> list[str]: ...


def schedules_of(backend: Backend) -> Schedules:
    if isinstance(backend, HttpBackend):
        return HttpSchedules(backend)
    assert isinstance(backend, StoreBackend)
    return StoreSchedules(backend)


class StoreSchedules:
    def __init__(self, backend: StoreBackend) -> None:
        self.client = backend.client

    def create(self, schedule_id: str, workflow: str, **kwargs: Any) -> Schedule:
        return self.client.create_schedule(schedule_id, workflow, **kwargs)

    def get(self, schedule_id: str, recent_runs: int) -> Schedule | None:
        return self.client.get_schedule(schedule_id, recent_runs=recent_runs)

    def page(
        self, page_size: int, token: str | None, recent_runs: int
    ) -> tuple[list[Schedule], str | None]:
        page = self.client.list_schedules(
            page_size=page_size, continuation_token=token, recent_runs=recent_runs
        )
        return page.schedules, page.continuation_token

    def update(self, schedule_id: str, **kwargs: Any) -> Schedule:
        return self.client.update_schedule(schedule_id, **kwargs)

    def _read(self, schedule_id: str) -> Schedule:
        found = self.client.get_schedule(schedule_id)
        if found is None:
            raise ScheduleNotFoundError(f"no schedule with ID {schedule_id!r}")
        return found

    def pause(self, schedule_id: str, note: str | None) -> Schedule:
        self.client.pause_schedule(schedule_id, note=note)
        return self._read(schedule_id)

    def resume(self, schedule_id: str, note: str | None) -> Schedule:
        self.client.resume_schedule(schedule_id, note=note)
        return self._read(schedule_id)

    def trigger(self, schedule_id: str) -> str:
        return self.client.trigger_schedule(schedule_id)

    def delete(self, schedule_id: str) -> bool:
        return self.client.delete_schedule(schedule_id)

    def backfill(self, schedule_id: str, start: datetime, end: datetime) -> list[str]:
        return self.client.backfill_schedule(schedule_id, start, end)


class HttpSchedules:
    def __init__(self, backend: HttpBackend) -> None:
        self.http = backend

    def _call(self, method: str, path: str = "", **kwargs: Any) -> Any:
        return self.http._request(method, path, api=_API, **kwargs)

    def create(self, schedule_id: str, workflow: str, **kwargs: Any) -> Schedule:
        body = schedule_request_json(schedule_id=schedule_id, workflow=workflow, **kwargs)
        return schedule_from_json(self._call("POST", body=body))

    def get(self, schedule_id: str, recent_runs: int) -> Schedule | None:
        try:
            data = self._call("GET", f"/{schedule_id}", params={"recentRuns": recent_runs})
        except ScheduleNotFoundError:
            return None
        return schedule_from_json(data)

    def page(
        self, page_size: int, token: str | None, recent_runs: int
    ) -> tuple[list[Schedule], str | None]:
        params: dict[str, Any] = {"pageSize": page_size, "recentRuns": recent_runs}
        if token:
            params["continuationToken"] = token
        data = self._call("GET", params=params)
        return [schedule_from_json(s) for s in data["schedules"]], data["continuationToken"]

    def update(self, schedule_id: str, **kwargs: Any) -> Schedule:
        body = schedule_request_json(**kwargs)
        return schedule_from_json(self._call("PATCH", f"/{schedule_id}", body=body))

    def pause(self, schedule_id: str, note: str | None) -> Schedule:
        params = {"note": note} if note else None
        return schedule_from_json(self._call("POST", f"/{schedule_id}/pause", params=params))

    def resume(self, schedule_id: str, note: str | None) -> Schedule:
        params = {"note": note} if note else None
        return schedule_from_json(self._call("POST", f"/{schedule_id}/resume", params=params))

    def trigger(self, schedule_id: str) -> str:
        instance_id: str = self._call("POST", f"/{schedule_id}/trigger")["instanceID"]
        return instance_id

    def delete(self, schedule_id: str) -> bool:
        try:
            self._call("DELETE", f"/{schedule_id}")
        except ScheduleNotFoundError:
            return False
        return True

    def backfill(self, schedule_id: str, start: datetime, end: datetime) -> list[str]:
        body = schedule_request_json(start_at=start, end_at=end)
        answer = self._call(
            "POST",
            f"/{schedule_id}/backfill",
            body={"start": body["startAt"], "end": body["endAt"]},
        )
        started: list[str] = answer["instanceIDs"]
        return started
