"""The JSON shapes of the HTTP API, in both directions.

A workflow's status is Dapr's ``GetWorkflowResponse``: ``instanceID``,
``workflowName``, ``createdAt``, ``lastUpdatedAt`` (RFC 3339 with nanoseconds),
``runtimeStatus`` and a string-to-string ``properties`` map whose payloads are the
serialized JSON text, exactly as Dapr returns them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from outlast.client.state import PendingActivity, WorkflowState
from outlast.core.status import WorkflowStatus
from outlast.errors import FailureDetails

INPUT = "dapr.workflow.input"
OUTPUT = "dapr.workflow.output"
CUSTOM_STATUS = "dapr.workflow.custom_status"
ERROR_TYPE = "dapr.workflow.failure.error_type"
ERROR_MESSAGE = "dapr.workflow.failure.error_message"
STACK_TRACE = "dapr.workflow.failure.stack_trace"
WAITING_ON_LIMIT = "waitingOnLimit"


def rfc3339(value: datetime) -> str:
    """``2023-05-03T23:22:11.143069000Z``: UTC, nine fractional digits, as Dapr (Go)
    prints them. Our clock has microseconds; the last three digits are zeros."""
    utc = value.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}000Z"


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 time (any number of fractional digits; naive means UTC)."""
    value = datetime.fromisoformat(text.strip())
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def status_json(
    state: WorkflowState, *, payloads: bool = True, waiting: Sequence[PendingActivity] = ()
) -> dict[str, Any]:
    """Dapr's status object. ``payloads=False`` (listings read without them) leaves
    input, output and custom status out rather than reporting them empty.
    ``waiting``: activities queued behind a limit, reported as ``waitingOnLimit``
    (an outlast field, only when there are some: Dapr clients ignore it)."""
    properties: dict[str, str] = {}
    if payloads:
        properties[CUSTOM_STATUS] = state.serialized_custom_status or ""
        if state.serialized_input is not None:
            properties[INPUT] = state.serialized_input
        # Like Dapr: a failed instance reports its failure, never an output.
        if state.serialized_output is not None and state.failure_details is None:
            properties[OUTPUT] = state.serialized_output
    failure = state.failure_details
    if failure is not None:
        properties[ERROR_TYPE] = failure.error_type
        properties[ERROR_MESSAGE] = failure.message
        if failure.stack_trace:
            properties[STACK_TRACE] = failure.stack_trace
    doc: dict[str, Any] = {
        "instanceID": state.instance_id,
        "workflowName": state.name,
        "createdAt": rfc3339(state.created_at),
        "lastUpdatedAt": rfc3339(state.last_updated_at),
        "runtimeStatus": state.runtime_status.value,
        "properties": properties,
    }
    limited = [w for w in waiting if w.waiting_on_limit]
    if limited:
        doc[WAITING_ON_LIMIT] = [
            {"workflow": w.name, "key": w.key, "priority": w.priority}
            if w.task_id < 0
            else {"activity": w.name, "taskID": w.task_id, "key": w.key, "priority": w.priority}
            for w in limited
        ]
    return doc


def limit_waits_from_json(data: dict[str, Any]) -> list[PendingActivity]:
    """The ``waitingOnLimit`` entries of a status object (the CLI against a server)."""
    return [
        PendingActivity(
            int(w["taskID"]) if "activity" in w else -1,
            str(w["activity"] if "activity" in w else w["workflow"]),
            None,
            waiting_on_limit=True,
            key=w.get("key"),
            priority=int(w.get("priority") or 0),
        )
        for w in data.get(WAITING_ON_LIMIT) or []
    ]


def state_from_json(data: dict[str, Any]) -> WorkflowState:
    """The inverse of :func:`status_json` (used by the CLI against a server)."""
    props: dict[str, str] = data.get("properties") or {}
    failure = None
    if ERROR_TYPE in props or ERROR_MESSAGE in props:
        failure = FailureDetails(
            props.get(ERROR_TYPE, ""), props.get(ERROR_MESSAGE, ""), props.get(STACK_TRACE)
        )
    return WorkflowState(
        instance_id=data["instanceID"],
        name=data.get("workflowName", ""),
        runtime_status=WorkflowStatus(data["runtimeStatus"]),
        created_at=parse_rfc3339(data["createdAt"]),
        last_updated_at=parse_rfc3339(data["lastUpdatedAt"]),
        serialized_input=props.get(INPUT),
        serialized_output=props.get(OUTPUT),
        serialized_custom_status=props.get(CUSTOM_STATUS) or None,
        failure_details=failure,
    )


def list_json(
    states: list[WorkflowState], continuation_token: str | None, *, payloads: bool = False
) -> dict[str, Any]:
    return {
        "instances": [status_json(s, payloads=payloads) for s in states],
        "continuationToken": continuation_token,
    }


def history_json(instance_id: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """Each event gains ``eventId``, its index: what rerun takes to name an event."""
    return {
        "instanceID": instance_id,
        "events": [{"eventId": number, **event} for number, event in enumerate(events)],
    }
