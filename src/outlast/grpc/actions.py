"""An SDK's answer to a turn (``WorkflowResponse``, or ``OrchestratorResponse`` in the
Microsoft flavor) to an outlast Turn.

The records each action leaves in history are made by ``core.turn.build_turn``,
the same rules as for in-process code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from outlast.core import history as h
from outlast.core.times import Nanos
from outlast.core.turn import Turn
from outlast.grpc.convert import carryover_from_proto, failure_from_proto, nanos
from outlast.grpc.flavor import DAPR, Flavor


class UnsupportedAction(ValueError):
    """An action outlast cannot carry out (the turn is refused, the SDK told why)."""


def _opt(msg: object, field: str) -> str | None:
    if msg.HasField(field):  # type: ignore[attr-defined]
        return str(getattr(msg, field).value)
    return None


def _origin(a: Any) -> tuple[str | None, str | None]:
    which = a.WhichOneof("origin")
    if which == "createTimer":
        return h.ORIGIN_TIMER, None
    if which == "externalEvent":
        return h.ORIGIN_EVENT, a.externalEvent.name
    if which == "activityRetry":
        return h.ORIGIN_ACTIVITY_RETRY, a.activityRetry.taskExecutionId
    if which == "childWorkflowRetry":
        return h.ORIGIN_CHILD_RETRY, a.childWorkflowRetry.instanceId
    return None, None


def action_from_proto(a: Any, now: Nanos, flavor: Flavor = DAPR) -> h.Action:
    kind = a.WhichOneof(flavor.actions)
    if kind == "scheduleTask":
        s = a.scheduleTask
        execution_id = (s.taskExecutionId or None) if flavor.execution_ids else None
        return h.ScheduleActivity(a.id, s.name, _opt(s, "input"), _opt(s, "version"), execution_id)
    if kind == "createTimer":
        t = a.createTimer
        if not flavor.timer_details:
            return h.StartTimer(a.id, nanos(t.fireAt), None, None, None)
        origin, origin_name = _origin(t)
        name = t.name if t.HasField("name") else None
        return h.StartTimer(a.id, nanos(t.fireAt), name, origin, origin_name)
    if kind == flavor.create_child:
        c = getattr(a, kind)
        return h.StartChildWorkflow(
            a.id, c.name, c.instanceId, _opt(c, "input"), _opt(c, "version")
        )
    if kind == "sendEvent":
        e = a.sendEvent
        return h.SendEvent(a.id, e.instance.instanceId, e.name, _opt(e, "data"))
    if kind == flavor.terminate:
        t2 = getattr(a, kind)
        return h.TerminateInstance(t2.instanceId, _opt(t2, "reason"), t2.recurse)
    if kind == flavor.complete:
        c2 = getattr(a, kind)
        number = getattr(c2, flavor.status)
        status = flavor.status_from_proto.get(number)
        if status not in ("COMPLETED", "FAILED", "TERMINATED", "CONTINUED_AS_NEW"):
            raise UnsupportedAction(f"a workflow cannot complete with status {number}")
        carry = tuple(
            e for e in (carryover_from_proto(m, now) for m in c2.carryoverEvents) if e is not None
        )
        return h.CompleteWorkflow(
            status,
            _opt(c2, "result"),
            failure_from_proto(c2.failureDetails) if c2.HasField("failureDetails") else None,
            carryover=carry,
            new_version=_opt(c2, "newVersion"),
        )
    raise UnsupportedAction(f"the action {kind!r} is not supported by outlast")


def turn_from_proto(resp: Any, now: Nanos, flavor: Flavor = DAPR) -> Turn:
    """The turn an SDK answered; raises UnsupportedAction for what outlast cannot do."""
    actions = [action_from_proto(a, now, flavor) for a in resp.actions]
    custom = resp.customStatus.value if resp.HasField("customStatus") else None
    version = None
    patches: tuple[str, ...] = ()
    if flavor.versions and resp.HasField("version"):
        version = resp.version.name if resp.version.HasField("name") else None
        patches = tuple(resp.version.patches)
    # The SDKs send the whole custom status with every answer: it replaces.
    return Turn(actions, custom, True, version, patches)


def terminate_children(turn: Turn, events: Iterable[h.Event]) -> None:
    """A recursive terminate's children: the SDKs answer it with a TERMINATED
    completion and leave the children to the backend, as in-process code's
    executor does not. ``events``: the turn's history, past and new."""
    recursive = False
    open_children: dict[int, str] = {}
    for e in events:
        if isinstance(e, h.SubOrchestrationCreated):
            open_children[e.task_id] = e.instance_id
        elif isinstance(e, h.SubOrchestrationCompleted | h.SubOrchestrationFailed):
            open_children.pop(e.task_id, None)
        elif isinstance(e, h.ExecutionTerminated):
            recursive = e.recursive
    if not recursive or not open_children:
        return
    for n, a in enumerate(turn.actions):
        if isinstance(a, h.CompleteWorkflow) and a.status == "TERMINATED":
            children = tuple(open_children.values())
            turn.actions[n] = dataclasses.replace(a, terminate_children=children)
