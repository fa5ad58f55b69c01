"""History events and the actions a workflow turn produces.

Named after the durabletask vocabulary so a wire protocol can map onto them. Every
event carries ``ts``: the time (epoch seconds, UTC) of the turn that appended it to
history; workflow time (``ctx.current_utc_datetime``) is read from it, never from a
clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from outlast.errors import FailureDetails, SerializationError


@dataclass(frozen=True, slots=True)
class Event:
    ts: float
    # Events that record an action the workflow took are matched against the code on
    # replay; ``task_id`` then names the step.
    is_action_record: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class ParentInfo:
    instance_id: str
    execution_id: str
    task_id: int


@dataclass(frozen=True, slots=True)
class ExecutionStarted(Event):
    name: str
    input: str | None = None
    parent: ParentInfo | None = None
    version: str | None = None
    scheduled_time: float | None = None  # the schedule tick that started this run


@dataclass(frozen=True, slots=True)
class TaskScheduled(Event):
    task_id: int
    name: str
    input: str | None = None
    is_action_record: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class TaskCompleted(Event):
    task_id: int
    result: str | None = None


@dataclass(frozen=True, slots=True)
class TaskFailed(Event):
    task_id: int
    failure: FailureDetails


@dataclass(frozen=True, slots=True)
class TimerCreated(Event):
    task_id: int
    fire_at: float
    is_action_record: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class TimerFired(Event):
    task_id: int
    fire_at: float


@dataclass(frozen=True, slots=True)
class EventRaised(Event):
    name: str
    input: str | None = None


@dataclass(frozen=True, slots=True)
class SubOrchestrationCreated(Event):
    task_id: int
    name: str
    instance_id: str
    input: str | None = None
    is_action_record: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class SubOrchestrationCompleted(Event):
    task_id: int
    result: str | None = None


@dataclass(frozen=True, slots=True)
class SubOrchestrationFailed(Event):
    task_id: int
    failure: FailureDetails


@dataclass(frozen=True, slots=True)
class ExecutionCompleted(Event):
    status: str
    result: str | None = None
    failure: FailureDetails | None = None


@dataclass(frozen=True, slots=True)
class ExecutionTerminated(Event):
    output: str | None = None
    recursive: bool = True


@dataclass(frozen=True, slots=True)
class ExecutionSuspended(Event):
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ExecutionResumed(Event):
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class WorkflowPatched(Event):
    """The run reached ``ctx.is_patched(name)`` with the patched code."""

    name: str


@dataclass(frozen=True, slots=True)
class ExecutionRerun(Event):
    """This instance re-runs ``source_instance_id`` from its event ``source_event_id``."""

    source_instance_id: str
    source_event_id: int


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        ExecutionStarted,
        TaskScheduled,
        TaskCompleted,
        TaskFailed,
        TimerCreated,
        TimerFired,
        EventRaised,
        SubOrchestrationCreated,
        SubOrchestrationCompleted,
        SubOrchestrationFailed,
        ExecutionCompleted,
        ExecutionTerminated,
        ExecutionSuspended,
        ExecutionResumed,
        WorkflowPatched,
        ExecutionRerun,
    )
}


def _field_encoder(cls: type[Event]) -> Callable[[Event], str]:
    """An encoder for one event class that builds the fields' dict directly: about
    twice as fast as orjson's own dataclass path, and every step encodes two."""
    names = [f.name for f in dataclasses.fields(cls)]
    body = ", ".join(f"{n!r}: e.{n}" for n in names)
    namespace: dict[str, Any] = {"dumps": orjson.dumps}
    exec(f"def encode(e):\n    return dumps(({cls.__name__!r}, {{{body}}})).decode()", namespace)
    encode: Callable[[Event], str] = namespace["encode"]
    return encode


_ENCODERS: dict[type[Event], Callable[[Event], str]] = {
    cls: _field_encoder(cls) for cls in EVENT_TYPES.values()
}


def encode_event(event: Event) -> str:
    return _ENCODERS[type(event)](event)


def decode_event(text: str | bytes) -> Event:
    try:
        kind, fields = orjson.loads(text)
        cls = EVENT_TYPES[kind]
    except (orjson.JSONDecodeError, KeyError, ValueError, TypeError) as e:
        raise SerializationError(f"corrupt history event: {text!r:.200}") from e
    failure = fields.get("failure")
    if failure is not None:
        fields["failure"] = FailureDetails.from_dict(failure)
    parent = fields.get("parent")
    if parent is not None:
        fields["parent"] = ParentInfo(**parent)
    return cls(**fields)


def with_ts(event: Event, ts: float) -> Event:
    return dataclasses.replace(event, ts=ts)


def describe(event: Event) -> dict[str, Any]:
    """A readable dict of an event: its kind plus its fields."""
    data: dict[str, Any] = {"kind": type(event).__name__}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if isinstance(value, FailureDetails):
            value = value.to_dict()
        elif isinstance(value, ParentInfo):
            value = dataclasses.asdict(value)
        data[f.name] = value
    return data


# --- actions: what one turn of a workflow asks the runtime to do ----------------------


@dataclass(frozen=True, slots=True)
class ScheduleActivity:
    task_id: int
    name: str
    input: str | None


@dataclass(frozen=True, slots=True)
class StartTimer:
    task_id: int
    fire_at: float


@dataclass(frozen=True, slots=True)
class StartChildWorkflow:
    task_id: int
    name: str
    instance_id: str
    input: str | None


Action = ScheduleActivity | StartTimer | StartChildWorkflow
