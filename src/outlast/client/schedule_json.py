"""The JSON shapes of schedules in the HTTP API, in both directions.

A schedule is ``{"scheduleID", "workflowName", "input", "cron", "every",
"timezone", "startAt", "endAt", "jitter", "overlap", "catchup", "paused", "note",
"nextRunAt", "bufferedTime", "lastInstanceID", "createdAt", "updatedAt",
"recentRuns"}``: times in RFC 3339, durations (``every``, ``jitter``) in seconds,
``input`` the JSON value itself. A request that creates or updates one uses the
same names (``scheduleID`` and ``workflowName`` to create it).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

import orjson

from outlast.client.dapr_json import parse_rfc3339, rfc3339
from outlast.client.schedule_state import Schedule, ScheduleRun
from outlast.core.status import WorkflowStatus

# Request fields by kind: JSON name -> create_schedule / update_schedule argument.
_TEXTS: Final = {"timezone": "timezone", "overlap": "overlap", "catchup": "catchup"}
_NULLABLE_TEXTS: Final = {"cron": "cron"}
_TIMES: Final = {"startAt": "start_at", "endAt": "end_at"}
_SECONDS: Final = {"every": "every", "jitter": "jitter"}
_CREATE_TEXTS: Final = {"scheduleID": "schedule_id", "workflowName": "workflow"}
_FIELDS: Final = {"input", *_TEXTS, *_NULLABLE_TEXTS, *_TIMES, *_SECONDS}
_CREATE_FIELDS: Final = {*_FIELDS, *_CREATE_TEXTS, "paused", "note"}


def _time(value: datetime | None) -> str | None:
    return None if value is None else rfc3339(value)


def _seconds(value: timedelta | None) -> float | int | None:
    if value is None:
        return None
    seconds = value.total_seconds()
    return int(seconds) if seconds == int(seconds) else seconds


def run_json(run: ScheduleRun) -> dict[str, Any]:
    return {
        "scheduledTime": rfc3339(run.scheduled_time),
        "instanceID": run.instance_id,
        "kind": run.kind,
        "startedAt": rfc3339(run.started_at),
        "runtimeStatus": None if run.status is None else run.status.value,
    }


def schedule_json(schedule: Schedule) -> dict[str, Any]:
    return {
        "scheduleID": schedule.schedule_id,
        "workflowName": schedule.workflow,
        "input": None if schedule.serialized_input is None else schedule.input_as(),
        "cron": schedule.cron,
        "every": _seconds(schedule.every),
        "timezone": schedule.timezone,
        "startAt": _time(schedule.start_at),
        "endAt": _time(schedule.end_at),
        "jitter": _seconds(schedule.jitter),
        "overlap": schedule.overlap,
        "catchup": schedule.catchup,
        "paused": schedule.paused,
        "note": schedule.note,
        "nextRunAt": _time(schedule.next_run_at),
        "bufferedTime": _time(schedule.buffered_time),
        "lastInstanceID": schedule.last_instance_id,
        "createdAt": rfc3339(schedule.created_at),
        "updatedAt": rfc3339(schedule.updated_at),
        "recentRuns": [run_json(r) for r in schedule.recent_runs],
    }


def schedule_list_json(schedules: list[Schedule], token: str | None) -> dict[str, Any]:
    return {"schedules": [schedule_json(s) for s in schedules], "continuationToken": token}


def _parse_time(value: str | None) -> datetime | None:
    return None if value is None else parse_rfc3339(value)


def _duration(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


def schedule_from_json(data: dict[str, Any]) -> Schedule:
    """A :class:`Schedule` from :func:`schedule_json`'s output."""
    runs = tuple(
        ScheduleRun(
            scheduled_time=parse_rfc3339(r["scheduledTime"]),
            instance_id=r["instanceID"],
            kind=r["kind"],
            started_at=parse_rfc3339(r["startedAt"]),
            status=None if r["runtimeStatus"] is None else WorkflowStatus(r["runtimeStatus"]),
        )
        for r in data.get("recentRuns", [])
    )
    created, updated = _parse_time(data["createdAt"]), _parse_time(data["updatedAt"])
    assert created is not None and updated is not None
    value = data.get("input")
    return Schedule(
        schedule_id=data["scheduleID"],
        workflow=data["workflowName"],
        serialized_input=None if value is None else orjson.dumps(value).decode(),
        cron=data.get("cron"),
        every=_duration(data.get("every")),
        timezone=data.get("timezone", "UTC"),
        start_at=_parse_time(data.get("startAt")),
        end_at=_parse_time(data.get("endAt")),
        jitter=_duration(data.get("jitter")),
        overlap=data["overlap"],
        catchup=data["catchup"],
        paused=bool(data["paused"]),
        note=data.get("note"),
        next_run_at=_parse_time(data.get("nextRunAt")),
        buffered_time=_parse_time(data.get("bufferedTime")),
        last_instance_id=data.get("lastInstanceID"),
        created_at=created,
        updated_at=updated,
        recent_runs=runs,
    )


def schedule_arguments(body: Any, *, create: bool) -> dict[str, Any]:
    """A request body as keyword arguments for ``create_schedule`` (with
    ``schedule_id`` and ``workflow``) or ``update_schedule``; ValueError, naming the
    field, for anything else."""
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    allowed = _CREATE_FIELDS if create else _FIELDS
    unknown = sorted(set(body) - allowed)
    if unknown:
        known = ", ".join(sorted(allowed))
        raise ValueError(f"unknown field(s) {', '.join(unknown)}; known: {known}")
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key in _TIMES:
            out[_TIMES[key]] = _time_field(key, value)
        elif key in _SECONDS:
            out[_SECONDS[key]] = _number_field(key, value)
        elif key in _NULLABLE_TEXTS or key == "note":
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{key} must be a string or null")
            out["cron" if key == "cron" else "note"] = value
        elif key in _TEXTS or key in _CREATE_TEXTS:
            if not isinstance(value, str):
                raise ValueError(f"{key} must be a string")
            out[{**_TEXTS, **_CREATE_TEXTS}[key]] = value
        elif key == "paused":
            if not isinstance(value, bool):
                raise ValueError("paused must be true or false")
            out["paused"] = value
        else:
            out["input"] = value
    if create and not ("schedule_id" in out and "workflow" in out):
        raise ValueError("creating a schedule needs scheduleID and workflowName")
    return out


def _time_field(key: str, value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_rfc3339(str(value))
    except ValueError:
        raise ValueError(f"{key} must be an RFC 3339 time such as 2030-01-31T12:00:00Z") from None


def _number_field(key: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number of seconds")
    return float(value)


def schedule_request_json(**kwargs: Any) -> dict[str, Any]:
    """``create_schedule`` / ``update_schedule`` keyword arguments as a request body
    (the inverse of :func:`schedule_arguments`)."""
    names = {"schedule_id": "scheduleID", "workflow": "workflowName", "paused": "paused"}
    names |= {"note": "note", "input": "input", "cron": "cron"}
    names |= {v: k for k, v in {**_TEXTS, **_TIMES, **_SECONDS}.items()}
    body: dict[str, Any] = {}
    for key, value in kwargs.items():
        if isinstance(value, datetime):
            value = rfc3339(value)
        elif isinstance(value, timedelta):
            value = _seconds(value)
        body[names[key]] = value
    return body
