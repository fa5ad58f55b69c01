"""The OpenAPI 3.1 document, generated from the route table so it cannot drift."""

from __future__ import annotations

import re
from typing import Any

from outlast import __version__
from outlast.http.handlers import API_PREFIXES
from outlast.http.requests import instance_id_schema
from outlast.http.routes import ENDPOINTS, Endpoint

_CONVERTER = re.compile(r"\{(\w+):\w+\}")
_PATH_PARAM = re.compile(r"\{(\w+)\}")

_PATH_PARAM_DOCS = {
    "component": "The workflow component; any name is accepted (Dapr uses 'dapr')",
    "workflowName": "A registered workflow's name",
    "instanceID": "Up to 64 letters, digits, '_' or '-'",
    "eventName": "The event's name",
    "eventID": "The position of the event in the instance's history",
    "scheduleID": "Up to 47 letters, digits, '_' or '-'",
}

_DATE_TIME = {"type": "string", "format": "date-time"}
_MAYBE_TIME = {"type": ["string", "null"], "format": "date-time"}
_SCHEDULE_FIELDS: dict[str, Any] = {
    "input": {"description": "The input each run starts with (any JSON value)"},
    "cron": {
        "type": ["string", "null"],
        "description": "A cron expression (5 fields, or 6 with seconds first), in timezone",
        "examples": ["*/5 * * * *"],
    },
    "every": {
        "type": ["integer", "null"],
        "minimum": 1,
        "description": "An interval in whole seconds, instead of cron",
    },
    "timezone": {"type": "string", "default": "UTC", "examples": ["Europe/Paris"]},
    "startAt": _MAYBE_TIME,
    "endAt": {**_MAYBE_TIME, "description": "No tick at or after this time"},
    "jitter": {
        "type": ["number", "null"],
        "minimum": 0,
        "description": "Spread each start over this many seconds after its tick",
    },
    "overlap": {
        "type": "string",
        "enum": ["skip", "buffer_one", "allow_all", "terminate_previous"],
        "default": "skip",
    },
    "catchup": {"type": "string", "enum": ["skip", "one", "all"], "default": "skip"},
}
_SCHEDULE_RUN = {
    "type": "object",
    "properties": {
        "scheduledTime": _DATE_TIME,
        "instanceID": {"type": ["string", "null"]},
        "kind": {"type": "string", "enum": ["tick", "trigger", "backfill", "skipped"]},
        "startedAt": _DATE_TIME,
        "runtimeStatus": {
            "anyOf": [{"$ref": "#/components/schemas/RuntimeStatus"}, {"type": "null"}]
        },
    },
}

_STATUSES = [
    "RUNNING",
    "COMPLETED",
    "CONTINUED_AS_NEW",
    "FAILED",
    "CANCELED",
    "TERMINATED",
    "PENDING",
    "SUSPENDED",
    "STALLED",
]

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["errorCode", "message"],
        "properties": {
            "errorCode": {"type": "string", "examples": ["ERR_INSTANCE_ID_NOT_FOUND"]},
            "message": {"type": "string"},
        },
    },
    "RuntimeStatus": {"type": "string", "enum": _STATUSES},
    "StartResult": {
        "type": "object",
        "required": ["instanceID"],
        "properties": {"instanceID": {"type": "string"}},
    },
    "WorkflowStatus": {
        "type": "object",
        "required": [
            "instanceID",
            "workflowName",
            "createdAt",
            "lastUpdatedAt",
            "runtimeStatus",
            "properties",
        ],
        "properties": {
            "instanceID": {"type": "string"},
            "workflowName": {"type": "string"},
            "createdAt": {"type": "string", "format": "date-time"},
            "lastUpdatedAt": {"type": "string", "format": "date-time"},
            "runtimeStatus": {"$ref": "#/components/schemas/RuntimeStatus"},
            "properties": {
                "type": "object",
                "description": "dapr.workflow.input, .output and .custom_status hold "
                "serialized JSON; dapr.workflow.failure.error_type, .error_message and "
                ".stack_trace describe a failure",
                "additionalProperties": {"type": "string"},
            },
        },
    },
    "WorkflowList": {
        "type": "object",
        "required": ["instances", "continuationToken"],
        "properties": {
            "instances": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/WorkflowStatus"},
            },
            "continuationToken": {
                "type": ["string", "null"],
                "description": "Pass back to get the next page; null on the last page",
            },
        },
    },
    "WorkflowHistory": {
        "type": "object",
        "required": ["instanceID", "events"],
        "properties": {
            "instanceID": {"type": "string"},
            "events": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["kind", "timestamp"],
                    "properties": {
                        "kind": {"type": "string", "examples": ["TaskScheduled"]},
                        "timestamp": {"type": "string", "format": "date-time"},
                    },
                    "additionalProperties": True,
                },
            },
        },
    },
    "ScheduleRequest": {
        "type": "object",
        "description": "To create: scheduleID and workflowName, and cron or every; to "
        "update (PATCH): any of the other fields",
        "properties": {
            "scheduleID": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,47}$"},
            "workflowName": {"type": "string"},
            **_SCHEDULE_FIELDS,
            "paused": {"type": "boolean", "default": False},
            "note": {"type": ["string", "null"]},
        },
        "additionalProperties": False,
    },
    "Schedule": {
        "type": "object",
        "required": ["scheduleID", "workflowName", "nextRunAt", "paused", "recentRuns"],
        "properties": {
            "scheduleID": {"type": "string"},
            "workflowName": {"type": "string"},
            **_SCHEDULE_FIELDS,
            "paused": {"type": "boolean"},
            "note": {"type": ["string", "null"]},
            "nextRunAt": {**_MAYBE_TIME, "description": "null while paused or once ended"},
            "bufferedTime": {**_MAYBE_TIME, "description": "A tick held by buffer_one"},
            "lastInstanceID": {"type": ["string", "null"]},
            "createdAt": _DATE_TIME,
            "updatedAt": _DATE_TIME,
            "recentRuns": {"type": "array", "items": _SCHEDULE_RUN},
        },
    },
    "ScheduleList": {
        "type": "object",
        "required": ["schedules", "continuationToken"],
        "properties": {
            "schedules": {"type": "array", "items": {"$ref": "#/components/schemas/Schedule"}},
            "continuationToken": {"type": ["string", "null"]},
        },
    },
    "BackfillResult": {
        "type": "object",
        "required": ["instanceIDs"],
        "properties": {"instanceIDs": {"type": "array", "items": {"type": "string"}}},
    },
    "PurgeResult": {
        "type": "object",
        "required": ["purged"],
        "properties": {"purged": {"type": "integer", "minimum": 0}},
    },
    "Health": {
        "type": "object",
        "properties": {
            "status": {"type": "string"},
            "version": {"type": "string"},
            "store": {"type": "string"},
            "runtime": {"type": "string", "enum": ["running", "none"]},
        },
    },
}


def openapi_path(path: str) -> str:
    """A route path in OpenAPI's syntax (no Starlette converters)."""
    return _CONVERTER.sub(r"{\1}", path)


def _operation(endpoint: Endpoint, prefix: str, *, secured: bool) -> dict[str, Any]:
    path = openapi_path(endpoint.path)
    slug = re.sub(r"[^A-Za-z0-9]+", "_", prefix).strip("_") or "root"
    parameters: list[dict[str, Any]] = []
    for name in _PATH_PARAM.findall(path):
        schema: dict[str, Any] = {"type": "integer"} if name == "eventID" else {"type": "string"}
        if name == "instanceID":
            schema = instance_id_schema()
        parameters.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "description": _PATH_PARAM_DOCS.get(name, name),
                "schema": schema,
            }
        )
    for param in endpoint.query:
        entry: dict[str, Any] = {
            "name": param.name,
            "in": "query",
            "required": False,
            "description": param.description,
            "schema": param.schema,
        }
        if param.repeated:
            entry["explode"] = True
        parameters.append(entry)

    responses: dict[str, Any] = {}
    for status, description in sorted(endpoint.responses.items()):
        response: dict[str, Any] = {"description": description}
        if status >= 400:
            response["content"] = {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
            }
        elif endpoint.response_schema and status in (200, 201, 202):
            ref = {"$ref": f"#/components/schemas/{endpoint.response_schema}"}
            response["content"] = {"application/json": {"schema": ref}}
        responses[str(status)] = response
    if secured and endpoint.auth:
        responses["401"] = {
            "description": "Missing or wrong API token",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    if endpoint.body is not None:
        responses.setdefault(
            "413",
            {
                "description": "Request body too large",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        )

    operation: dict[str, Any] = {
        "operationId": f"{endpoint.operation or endpoint.handler}_{slug}",
        "summary": endpoint.summary,
        "tags": ["dapr" if endpoint.dapr else "outlast"],
        "parameters": parameters,
        "responses": responses,
    }
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": False,
            "description": endpoint.body,
            "content": {"application/json": {"schema": {}}},
        }
    if not endpoint.auth:
        operation["security"] = []
    if prefix == "/v1.0-alpha1":
        operation["deprecated"] = True
    return operation


def build_openapi(*, secured: bool = False) -> dict[str, Any]:
    """The document for the routes in :data:`~outlast.server.routes.ENDPOINTS`;
    ``secured`` adds the API-token scheme (the server requires a token)."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        prefixes = API_PREFIXES if endpoint.versioned else ("",)
        for prefix in prefixes:
            item = paths.setdefault(prefix + openapi_path(endpoint.path), {})
            item[endpoint.method.lower()] = _operation(endpoint, prefix, secured=secured)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "outlast workflow API",
            "version": __version__,
            "description": "Dapr's workflow HTTP API (under /v1.0-alpha1, /v1.0-beta1 and "
            "/v1.0) plus outlast's extras: listing, history, rerun, purge by filter, "
            "long-polling and schedules. Errors are {errorCode, message}.",
        },
        "tags": [
            {"name": "dapr", "description": "Compatible with Dapr's workflow API"},
            {"name": "outlast", "description": "Beyond Dapr"},
        ],
        "paths": paths,
        "components": {"schemas": _SCHEMAS},
    }
    if secured:
        document["components"]["securitySchemes"] = {
            "apiToken": {"type": "apiKey", "in": "header", "name": "dapr-api-token"}
        }
        document["security"] = [{"apiToken": []}]
    return document
