"""The schedule routes (an outlast extra, under ``/v1.0*/schedules``), part of the
route table in :mod:`.routes`; their handlers are :mod:`.schedules`."""

from __future__ import annotations

from outlast.http.endpoint import Endpoint, Param

# Schedules: a collection of their own, so that no schedule route shadows an instance's.
_SCHEDULES = "/schedules"
_SCHEDULE = _SCHEDULES + "/{scheduleID}"
_SCHEDULE_ERRORS = {404: "No such schedule"}
_RECENT_RUNS = Param(
    "recentRuns",
    "How many of the latest runs to include",
    {"type": "integer", "default": 10, "minimum": 0, "maximum": 100},
)
_NOTE = Param("note", "Why (kept with the schedule)")
SCHEDULE_ENDPOINTS = (
    Endpoint(
        "GET",
        _SCHEDULES,
        "list_schedules",
        "List schedules by ID, a page at a time, each with its next run and latest runs",
        {200: "A page of schedules", 400: "Invalid parameter"},
        query=(
            Param(
                "pageSize",
                "Schedules per page",
                {"type": "integer", "default": 100, "minimum": 1, "maximum": 1000},
            ),
            Param("continuationToken", "The previous page's continuationToken"),
            Param(
                "recentRuns",
                "How many of each schedule's latest runs to include",
                {"type": "integer", "default": 5, "minimum": 0, "maximum": 100},
            ),
        ),
        response_schema="ScheduleList",
        dapr=False,
    ),
    Endpoint(
        "POST",
        _SCHEDULES,
        "create_schedule",
        "Create a schedule",
        {
            201: "Created; Location is the schedule's URL",
            400: "Invalid definition, or unknown workflow",
            409: "A schedule with this ID exists",
        },
        body="The schedule (ScheduleRequest): scheduleID, workflowName, cron or every, ...",
        response_schema="Schedule",
        dapr=False,
    ),
    Endpoint(
        "GET",
        _SCHEDULE,
        "get_schedule",
        "Get a schedule with its next run time and its latest runs",
        {200: "The schedule", 400: "Invalid parameter", **_SCHEDULE_ERRORS},
        query=(_RECENT_RUNS,),
        response_schema="Schedule",
        dapr=False,
    ),
    Endpoint(
        "PATCH",
        _SCHEDULE,
        "update_schedule",
        "Change the fields given, keep the rest",
        {200: "The changed schedule", 400: "Invalid field", **_SCHEDULE_ERRORS},
        body="The fields to change (ScheduleRequest without scheduleID and workflowName)",
        response_schema="Schedule",
        dapr=False,
    ),
    Endpoint(
        "DELETE",
        _SCHEDULE,
        "delete_schedule",
        "Delete a schedule (the instances it started stay)",
        {204: "Deleted", **_SCHEDULE_ERRORS},
        dapr=False,
    ),
    Endpoint(
        "POST",
        _SCHEDULE + "/pause",
        "pause_schedule",
        "Pause a schedule: no runs start until it is resumed",
        {200: "The paused schedule", **_SCHEDULE_ERRORS},
        query=(_NOTE,),
        response_schema="Schedule",
        dapr=False,
    ),
    Endpoint(
        "POST",
        _SCHEDULE + "/resume",
        "resume_schedule",
        "Resume a schedule from its next tick on",
        {200: "The resumed schedule", **_SCHEDULE_ERRORS},
        query=(_NOTE,),
        response_schema="Schedule",
        dapr=False,
    ),
    Endpoint(
        "POST",
        _SCHEDULE + "/trigger",
        "trigger_schedule",
        "Start a run now",
        {202: "Started", **_SCHEDULE_ERRORS, 409: "A run was started this second already"},
        response_schema="StartResult",
        dapr=False,
    ),
    Endpoint(
        "POST",
        _SCHEDULE + "/backfill",
        "backfill_schedule",
        "Start a run for every tick in [start, end) that has none",
        {202: "The runs started", 400: "Invalid range", **_SCHEDULE_ERRORS},
        body='{"start": RFC 3339 time, "end": RFC 3339 time}',
        response_schema="BackfillResult",
        dapr=False,
    ),
)
