"""History events and the actions a workflow turn produces.

Named after the durabletask vocabulary, with the fields its wire protocol carries,
so the gRPC surface is a thin mapping. Every event carries ``ts``: the exact time
(integer nanoseconds since the epoch, UTC; see ``times.py``) of the turn that
appended it to history. Workflow time (``ctx.current_utc_datetime``) is read from
it, never from a clock.

Each turn's events begin with an ``OrchestratorStarted`` marker whose time is the
turn's clock; events that record an action (``is_action_record``) carry the
action's ``task_id``, the durabletask event ID that SDKs match on replay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from outlast.core.times import Nanos
from outlast.errors import FailureDetails


@dataclass(frozen=True, slots=True)
class Event:
    ts: Nanos
    # Events that record an action the workflow took are matched against the code on
    # replay; ``task_id`` then names the step.
    is_action_record: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class ParentInfo:
    instance_id: str
    execution_id: str
    task_id: int
    name: str | None = None  # the parent workflow's name


@dataclass(frozen=True, slots=True)
class OrchestratorStarted(Event):
    """A turn begins: its time is the workflow's clock for the events that follow.
    ``version`` and ``patches``: what the code reported for this turn (a named
    version; the patches it took), so replays choose the same."""

    version: str | None = None
    patches: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExecutionStarted(Event):
    name: str
    input: str | None = None
    parent: ParentInfo | None = None
    version: str | None = None
    scheduled_start: Nanos | None = None  # a delayed start's requested time
    trace_context: str | None = None  # W3C traceparent of whoever started it
    tags: dict[str, str] | None = None
    depth: int = 0  # how many parents above it (a child's is its parent's plus one)
    scheduled_time: Nanos | None = None  # the tick of the schedule that started it
    # Flow control (docs/flow-control.md): the start's key and priority, for a
    # workflow under a runtime.limit.
    key: str | None = None
    priority: int = 0


@dataclass(frozen=True, slots=True)
class TaskScheduled(Event):
    task_id: int
    name: str
    input: str | None = None
    version: str | None = None
    # One logical call, across its retries: the attempts of a call share it.
    task_execution_id: str | None = None
    trace_context: str | None = None
    source: str | None = None  # "file:line" of the workflow code that scheduled it
    is_action_record: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class TaskCompleted(Event):
    task_id: int
    result: str | None = None
    task_execution_id: str | None = None


@dataclass(frozen=True, slots=True)
class TaskFailed(Event):
    task_id: int
    failure: FailureDetails
    task_execution_id: str | None = None


# Why a timer exists (durabletask's timer origins): ``origin_name`` is the event's
# name, the retried call's task execution ID, or the retried child's instance ID.
ORIGIN_TIMER = "create_timer"
ORIGIN_EVENT = "external_event"
ORIGIN_ACTIVITY_RETRY = "activity_retry"
ORIGIN_CHILD_RETRY = "child_workflow_retry"
# A call's start_to_close / schedule_to_close timeout; origin_name: its task ID.
ORIGIN_ACTIVITY_TIMEOUT = "activity_timeout"


@dataclass(frozen=True, slots=True)
class TimerCreated(Event):
    task_id: int
    fire_at: Nanos
    name: str | None = None
    origin: str | None = None
    origin_name: str | None = None
    source: str | None = None
    is_action_record: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class TimerFired(Event):
    task_id: int
    fire_at: Nanos


@dataclass(frozen=True, slots=True)
class EventRaised(Event):
    name: str
    input: str | None = None


@dataclass(frozen=True, slots=True)
class EventSent(Event):
    """This instance sent ``name`` to ``instance_id`` (which receives EventRaised)."""

    task_id: int
    instance_id: str
    name: str
    input: str | None = None
    source: str | None = None
    is_action_record: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class SubOrchestrationCreated(Event):
    task_id: int
    name: str
    instance_id: str
    input: str | None = None
    version: str | None = None
    source: str | None = None
    trace_context: str | None = None  # the parent run's, which the child continues
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
    """The run reached ``ctx.is_patched(name)`` with the patched code (histories
    written before patches rode on the turn's ``OrchestratorStarted``)."""

    name: str


@dataclass(frozen=True, slots=True)
class ExecutionRerun(Event):
    """This instance re-runs ``source_instance_id`` from its event ``source_event_id``."""

    source_instance_id: str
    source_event_id: int


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        OrchestratorStarted,
        ExecutionStarted,
        TaskScheduled,
        TaskCompleted,
        TaskFailed,
        TimerCreated,
        TimerFired,
        EventRaised,
        EventSent,
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

# Outcome events, by the action record they close.
OUTCOMES: dict[type[Event], type[Event]] = {
    TaskCompleted: TaskScheduled,
    TaskFailed: TaskScheduled,
    TimerFired: TimerCreated,
    SubOrchestrationCompleted: SubOrchestrationCreated,
    SubOrchestrationFailed: SubOrchestrationCreated,
}


# --- actions: what one turn of a workflow asks the engine to do ------------------------


@dataclass(frozen=True, slots=True)
class ScheduleActivity:
    task_id: int
    name: str
    input: str | None
    version: str | None = None
    task_execution_id: str | None = None
    trace_context: str | None = None
    source: str | None = None
    # Not recorded in history (TaskScheduled): what the activity row carries, the
    # attempt (1 for a first try) and the call's options as JSON (heartbeat
    # timeout, the last heartbeat details of the attempt before), or None.
    attempt: int = 1
    options: str | None = None
    # Flow control (docs/flow-control.md): the call's key for per-key limits and
    # its priority among waiting work; not recorded in history either.
    key: str | None = None
    priority: int = 0


@dataclass(frozen=True, slots=True)
class StartTimer:
    task_id: int
    fire_at: Nanos
    name: str | None = None
    origin: str | None = None
    origin_name: str | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class StartChildWorkflow:
    task_id: int
    name: str
    instance_id: str
    input: str | None
    version: str | None = None
    source: str | None = None
    trace_context: str | None = None  # W3C traceparent the child's run continues


@dataclass(frozen=True, slots=True)
class SendEvent:
    task_id: int
    instance_id: str
    name: str
    input: str | None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class TerminateInstance:
    """Terminate another instance (the caller's history records nothing)."""

    instance_id: str
    reason: str | None = None
    recursive: bool = True


@dataclass(frozen=True, slots=True)
class CompleteWorkflow:
    """The run ends: COMPLETED, FAILED, TERMINATED, or CONTINUED_AS_NEW (then
    ``result`` is the next run's input and ``carryover`` the events it inherits)."""

    status: str
    result: str | None = None
    failure: FailureDetails | None = None
    carryover: tuple[Event, ...] = ()
    new_version: str | None = None
    # Children to terminate with it (a recursive terminate).
    terminate_children: tuple[str, ...] = field(default=())


Action = (
    ScheduleActivity
    | StartTimer
    | StartChildWorkflow
    | SendEvent
    | TerminateInstance
    | CompleteWorkflow
)
