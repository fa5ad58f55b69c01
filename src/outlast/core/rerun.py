"""Rerun analysis: which part of a finished history a rerun keeps, and what it must
run again. Pure: events in, a plan out."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from outlast.core import history as h
from outlast.errors import InvalidStateError


@dataclass(frozen=True, slots=True)
class RerunPlan:
    history: list[h.Event]  # the new instance's history, up to the chosen event
    input: str | None  # the new instance's input
    unfinished: list[h.TaskScheduled]  # activities to run again


def plan(source_id: str, events: list[h.Event], event_id: int, new_input: Any) -> RerunPlan:
    """What a rerun of ``source_id`` from its event ``event_id`` (the index of an
    activity's TaskScheduled event) starts with. ``new_input``: the encoded input
    replacing the original, or any non-string sentinel to keep it."""
    if not 0 < event_id < len(events) or not isinstance(events[event_id], h.TaskScheduled):
        kind = type(events[event_id]).__name__ if 0 <= event_id < len(events) else None
        raise ValueError(
            f"event {event_id} of {source_id!r} is "
            f"{'out of range' if kind is None else 'a ' + kind}; rerun needs the ID of "
            "an activity's TaskScheduled event (see get_workflow_history)"
        )
    prefix = events[:event_id]
    at = next((n for n, e in enumerate(prefix) if isinstance(e, h.ExecutionStarted)), None)
    if at is None:
        raise ValueError(f"the history of {source_id!r} does not record its start")
    started = prefix[at]
    assert isinstance(started, h.ExecutionStarted)
    payload = new_input if isinstance(new_input, str) or new_input is None else started.input
    prefix[at] = dataclasses.replace(started, input=payload, parent=None)
    return RerunPlan(prefix, payload, unfinished_activities(prefix))


def unfinished_activities(prefix: list[h.Event]) -> list[h.TaskScheduled]:
    """Activities scheduled in ``prefix`` whose outcome it does not hold: they must run
    again in the rerun, or it would wait for them forever."""
    scheduled: dict[int, h.TaskScheduled] = {}
    for event in prefix:
        if isinstance(event, h.TaskScheduled):
            scheduled[event.task_id] = event
        elif isinstance(event, h.TaskCompleted | h.TaskFailed):
            scheduled.pop(event.task_id, None)
        elif isinstance(event, h.SubOrchestrationCreated) and not any(
            isinstance(e, h.SubOrchestrationCompleted | h.SubOrchestrationFailed)
            and e.task_id == event.task_id
            for e in prefix
        ):
            raise InvalidStateError(
                f"child workflow {event.instance_id!r} was still running at that event; "
                "rerun from an event before it started or after it finished"
            )
        elif isinstance(event, h.TimerCreated) and not any(
            isinstance(e, h.TimerFired) and e.task_id == event.task_id for e in prefix
        ):
            raise InvalidStateError(
                "a timer was pending at that event; rerun from an event before the timer "
                "started or after it fired"
            )
    return list(scheduled.values())
