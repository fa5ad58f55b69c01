"""What the dashboard's buttons do, through the same client calls the CLI makes.
Each returns the message to show; errors are raised as :class:`ActionError`
with a message for a person (never a stack trace)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import orjson

from outlast.client.client import WorkflowClient
from outlast.core.status import TERMINAL_STATUSES
from outlast.dashboard.filters import STATUSES, ListFilter, form_value
from outlast.errors import (
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    InvalidStateError,
    OutlastError,
    SerializationError,
)

log = logging.getLogger("outlast.dashboard")
T = TypeVar("T")
_UNSET: Final[Any] = object()
_ACTIVE = [s for s in STATUSES if s not in TERMINAL_STATUSES]


class ActionError(Exception):
    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


def guarded(fn: Callable[[], T]) -> T:
    """Run a client call; its errors become :class:`ActionError`."""
    try:
        return fn()
    except ActionError:
        raise
    except InstanceNotFoundError as e:
        raise ActionError(str(e), 404) from e
    except (InvalidStateError, InstanceAlreadyExistsError) as e:
        raise ActionError(str(e), 409) from e
    except (ValueError, SerializationError) as e:
        raise ActionError(str(e), 400) from e
    except OutlastError as e:
        raise ActionError(f"{type(e).__name__}: {e}", 500) from e
    except Exception as e:
        log.error("dashboard action failed", exc_info=e)
        raise ActionError(
            "the action failed with an internal error (see the server log)", 500
        ) from e


def _json(text: str, what: str) -> Any:
    if not text:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as e:
        raise ActionError(f"{what} is not valid JSON: {e}") from e


def _reason(form: Mapping[str, Any]) -> str | None:
    return form_value(form, "reason") or None


def raise_event(client: WorkflowClient, iid: str, form: Mapping[str, Any]) -> str:
    name = form_value(form, "event_name")
    if not name:
        raise ActionError("give the event a name")
    data = _json(form_value(form, "event_data"), "the event data")
    guarded(lambda: client.raise_workflow_event(iid, name, data=data))
    return f"Event {name!r} raised."


def suspend(client: WorkflowClient, iid: str, form: Mapping[str, Any]) -> str:
    guarded(lambda: client.suspend_workflow(iid, reason=_reason(form)))
    return "Suspend requested."


def resume(client: WorkflowClient, iid: str, form: Mapping[str, Any]) -> str:
    guarded(lambda: client.resume_workflow(iid, reason=_reason(form)))
    return "Resume requested."


def terminate(client: WorkflowClient, iid: str, form: Mapping[str, Any]) -> str:
    output = _json(form_value(form, "output"), "the output")
    guarded(lambda: client.terminate_workflow(iid, output=output))
    return "Terminate requested."


def purge(client: WorkflowClient, iid: str, form: Mapping[str, Any]) -> str:
    if not guarded(lambda: client.purge_workflow(iid)):
        raise ActionError(f"no workflow instance with ID {iid!r}", 404)
    return f"Instance {iid} and its history were purged."


def rerun(client: WorkflowClient, iid: str, form: Mapping[str, Any]) -> str:
    """Returns the new instance's ID."""
    raw = form_value(form, "event_id")
    try:
        event_id = int(raw)
    except ValueError:
        raise ActionError("pick the event to rerun from (on the timeline or in the list)") from None
    text = form_value(form, "new_input")
    new_input = _json(text, "the new input") if text else _UNSET
    kwargs = {} if new_input is _UNSET else {"new_input": new_input}
    return guarded(lambda: client.rerun_workflow_from_event(iid, event_id, **kwargs))


INSTANCE_ACTIONS: dict[str, Callable[[WorkflowClient, str, Mapping[str, Any]], str]] = {
    "raise": raise_event,
    "suspend": suspend,
    "resume": resume,
    "terminate": terminate,
    "purge": purge,
}


@dataclass
class BulkPlan:
    action: str  # terminate or purge
    filter: ListFilter
    count: int
    statuses: list[str]


def bulk_plan(client: WorkflowClient, action: str, f: ListFilter) -> BulkPlan:
    """How many instances the bulk action would touch (the dry run): terminate acts
    on the filter's unfinished instances, purge on its finished ones."""
    if action not in ("terminate", "purge"):
        raise ActionError(f"unknown bulk action {action!r}")
    if f.errors:
        raise ActionError("; ".join(f.errors))
    eligible = _ACTIVE if action == "terminate" else sorted(TERMINAL_STATUSES)
    statuses = [s for s in (f.statuses or eligible) if s in eligible]
    args = f.client_args()
    count = 0
    if statuses:
        args["status"] = statuses
        count = guarded(lambda: client.count_workflows(**args)).total
    return BulkPlan(action, f, count, statuses)


def bulk_run(client: WorkflowClient, plan: BulkPlan) -> str:
    if not plan.statuses:
        return f"No instance matches, so nothing to {plan.action}."
    args = plan.filter.client_args()
    args["status"] = plan.statuses
    if plan.action == "purge":
        purge_args = {k: v for k, v in args.items() if v is not None}
        done = guarded(lambda: client.purge_workflows(**purge_args))
        return f"Purged {done} instance{'s' if done != 1 else ''}."
    done, skipped = 0, 0
    args["page_size"] = 500
    while True:
        page = guarded(functools.partial(client.list_workflows, **args))
        for state in page:
            try:
                client.terminate_workflow(state.instance_id)
                done += 1
            except (InvalidStateError, InstanceNotFoundError):
                skipped += 1  # finished or purged meanwhile: nothing to do
        args["continuation_token"] = page.continuation_token
        if page.continuation_token is None:
            break
    extra = f" ({skipped} had finished meanwhile)" if skipped else ""
    return f"Terminate requested for {done} instance{'s' if done != 1 else ''}{extra}."
