"""The route table: the single list of endpoints, from which both the router and
the OpenAPI document are built."""

from __future__ import annotations

from typing import Final

from outlast.http.endpoint import Endpoint as Endpoint  # openapi.py uses it from here
from outlast.http.endpoint import Param
from outlast.http.handlers import DEFAULT_WAIT_SECONDS
from outlast.http.requests import instance_id_schema
from outlast.http.schedule_routes import SCHEDULE_ENDPOINTS

_COLLECTION = "/workflows/{component}"
_INSTANCE = _COLLECTION + "/{instanceID}"
_ID_ERRORS = {400: "Invalid instance ID", 404: "No such instance"}
_INSTANCE_OP = {202: "Accepted", **_ID_ERRORS, 409: "Not possible in the instance's status"}

_STATUS_FILTER = Param(
    "status",
    "Only instances in these statuses: repeat the parameter or separate with commas",
    {"type": "array", "items": {"$ref": "#/components/schemas/RuntimeStatus"}},
    repeated=True,
)
_NON_RECURSIVE = Param(
    "non_recursive", "true: leave child workflows alone", {"type": "boolean", "default": False}
)
_TIMEOUT = Param(
    "timeout",
    "Seconds to wait at most (capped by the server's maximum)",
    {"type": "number", "default": DEFAULT_WAIT_SECONDS, "minimum": 0},
)
# An empty value means "no filter", as with every query parameter.
_TIME = {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "maxLength": 0}]}
_NEW_ID = instance_id_schema(optional=True)

ENDPOINTS: Final[tuple[Endpoint, ...]] = (
    # Order matters where paths overlap: literal segments first.
    Endpoint(
        "POST",
        _COLLECTION + "/start",
        "start_without_name",
        "Start without a workflow name (always 400 ERR_WORKFLOW_NAME_MISSING)",
        {400: "Workflow name missing"},
    ),
    Endpoint(
        "POST",
        _COLLECTION + "/purge",
        "purge_many",
        "Purge every finished instance matching a filter",
        {200: "How many instances were purged", 400: "No filter, or an unfinished status"},
        query=(
            _STATUS_FILTER,
            Param("name", "Only instances of this workflow"),
            Param("createdBefore", "Only instances created before this time (RFC 3339)", _TIME),
            Param(
                "all", "true: purge every finished instance", {"type": "boolean", "default": False}
            ),
        ),
        response_schema="PurgeResult",
        dapr=False,
    ),
    Endpoint(
        "POST",
        _COLLECTION + "/{workflowName}/start",
        "start",
        "Start a workflow instance",
        {
            202: "Started; Location is the status URL",
            400: "Invalid ID, unknown workflow or body not JSON",
            409: "An unfinished instance already has this ID",
        },
        query=(
            Param("instanceID", "The new instance's ID (generated when absent)", _NEW_ID),
            Param("instanceId", "Same as instanceID", _NEW_ID),
        ),
        body="The workflow input (JSON); an empty body means no input",
        response_schema="StartResult",
    ),
    Endpoint(
        "POST",
        _INSTANCE + "/raiseEvent/{eventName}",
        "raise_event",
        "Raise an event to an instance",
        _INSTANCE_OP,
        body="The event data (JSON); an empty body means none",
    ),
    Endpoint(
        "POST",
        _INSTANCE + "/raiseEvent",
        "raise_without_name",
        "Raise an event without a name (always 400 ERR_WORKFLOW_EVENT_NAME_MISSING)",
        {400: "Event name missing"},
    ),
    Endpoint(
        "POST",
        _INSTANCE + "/terminate",
        "terminate",
        "Terminate an instance (and, by default, its child workflows)",
        _INSTANCE_OP,
        query=(_NON_RECURSIVE,),
        body="Optional: the output to record for the terminated instance (JSON)",
    ),
    Endpoint(
        "POST",
        _INSTANCE + "/pause",
        "pause",
        "Suspend an instance",
        _INSTANCE_OP,
        query=(Param("reason", "Why (recorded in the history)"),),
    ),
    Endpoint(
        "POST",
        _INSTANCE + "/resume",
        "resume",
        "Resume a suspended (or stalled) instance",
        _INSTANCE_OP,
        query=(Param("reason", "Why (recorded in the history)"),),
    ),
    Endpoint(
        "POST",
        _INSTANCE + "/purge",
        "purge",
        "Delete a finished instance and its history",
        _INSTANCE_OP,
        query=(_NON_RECURSIVE,),
    ),
    Endpoint(
        "POST",
        _INSTANCE + "/rerun/{eventID:int}",
        "rerun",
        "Start a new instance that replays this one's history up to an event",
        {
            **_INSTANCE_OP,
            202: "Started; Location is the new instance's status URL",
            501: "Not available in this version",
        },
        query=(
            Param("newInstanceID", "The new instance's ID (generated when absent)", _NEW_ID),
            Param("newInstanceId", "Same as newInstanceID", _NEW_ID),
        ),
        body="Optional: a new input (JSON) replacing the original one",
        response_schema="StartResult",
        dapr=False,
    ),
    Endpoint(
        "POST",
        _COLLECTION + "/{workflowName}/{instanceID}/start",
        "start_legacy",
        "Start a workflow instance (the first alpha API's form, ID in the path)",
        {202: "Started", 400: "Invalid ID or body", 409: "ID in use"},
        body="The workflow input (JSON); an empty body means no input",
        response_schema="StartResult",
    ),
    Endpoint(
        "GET",
        _COLLECTION,
        "list_instances",
        "List instances, oldest first, a page at a time",
        {200: "A page of instances", 400: "Invalid filter"},
        query=(
            _STATUS_FILTER,
            Param("name", "Only instances of this workflow"),
            Param("createdAfter", "Only instances created at or after this time", _TIME),
            Param("createdBefore", "Only instances created before this time", _TIME),
            Param(
                "pageSize",
                "Instances per page",
                {"type": "integer", "default": 100, "minimum": 1, "maximum": 10_000},
            ),
            Param("continuationToken", "The previous page's continuationToken"),
            Param(
                "includePayloads",
                "Include input, output and custom status",
                {"type": "boolean", "default": False},
            ),
        ),
        response_schema="WorkflowList",
        dapr=False,
    ),
    Endpoint(
        "GET",
        _INSTANCE,
        "get",
        "Get an instance's status",
        {200: "The status", **_ID_ERRORS},
        response_schema="WorkflowStatus",
    ),
    Endpoint(
        "GET",
        _INSTANCE + "/history",
        "history",
        "Get an instance's history events",
        {200: "The history", **_ID_ERRORS},
        response_schema="WorkflowHistory",
        dapr=False,
    ),
    Endpoint(
        "GET",
        _INSTANCE + "/waitForStart",
        "wait_for_start",
        "Long-poll until the instance has started",
        {200: "Started", 202: "Still pending when the timeout elapsed", **_ID_ERRORS},
        query=(_TIMEOUT,),
        response_schema="WorkflowStatus",
        dapr=False,
    ),
    Endpoint(
        "GET",
        _INSTANCE + "/waitForCompletion",
        "wait_for_completion",
        "Long-poll until the instance has finished (COMPLETED, FAILED, TERMINATED)",
        {200: "Finished", 202: "Still running when the timeout elapsed", **_ID_ERRORS},
        query=(_TIMEOUT,),
        response_schema="WorkflowStatus",
        dapr=False,
    ),
    *SCHEDULE_ENDPOINTS,
    Endpoint(
        "GET",
        "/healthz",
        "health",
        "Health: the store answers and the runtime runs",
        {200: "Healthy", 503: "Not ready"},
        response_schema="Health",
        versioned=False,
        dapr=False,
        auth=False,
    ),
    Endpoint(
        "GET",
        "/metrics",
        "metrics",
        "Prometheus metrics (text format): instances by status, queue depth, turns, "
        "commits, activity attempts and durations",
        {200: "The metrics"},
        versioned=False,
        dapr=False,
    ),
    Endpoint(
        "GET",
        "/v1.0/healthz",
        "dapr_health",
        "Dapr's sidecar health probe",
        {204: "Healthy"},
        versioned=False,
        auth=False,
    ),
    Endpoint(
        "GET",
        "/v1.0/healthz/outbound",
        "dapr_health",
        "Dapr's outbound health probe (SDKs wait on it)",
        {204: "Healthy"},
        versioned=False,
        auth=False,
        operation="dapr_health_outbound",
    ),
    Endpoint(
        "GET",
        "/",
        "index",
        "What this server is, and where its OpenAPI document is",
        {200: "Service information"},
        versioned=False,
        dapr=False,
    ),
)
