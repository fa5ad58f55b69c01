"""From a turn's actions to its records: one pure function, whoever ran the code.

A turn is "these actions, for this instance, at this time": from the in-process
executor or from an SDK worker on a gRPC stream. :func:`build_turn` applies the
rules that turn it into what to store: history records for each action (activity
scheduled, timer created, child created, event sent), the completion (its record,
the parent's notification, children terminated with it, or a fresh execution for
continue-as-new), the version and patches stamped on the turn, and the messages
for other instances. The runtime encodes the result and commits it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from outlast.core import history as h
from outlast.core.ids import is_valid_instance_id
from outlast.core.status import TERMINAL_STATUSES, WorkflowStatus
from outlast.core.times import NEVER_FIRES_FROM, Nanos
from outlast.errors import FailureDetails

DEFAULT_MAX_CHILD_DEPTH = 64


@dataclass(slots=True)
class Turn:
    """What the workflow code answered for one turn."""

    actions: list[h.Action]
    custom_status: str | None = None
    custom_status_set: bool = False  # False: leave the stored custom status alone
    version: str | None = None  # the version this run uses, if the code says
    patches: tuple[str, ...] = ()  # patches taken for the first time this turn
    suspended: bool = False


@dataclass(slots=True)
class InstanceView:
    """What the rules need to know of the instance the turn belongs to."""

    instance_id: str
    execution_id: str
    name: str
    parent: h.ParentInfo | None = None
    depth: int = 0
    # The schedule tick that started the instance: a continued-as-new run keeps it.
    scheduled_time: Nanos | None = None


@dataclass(slots=True)
class ChildRecord:
    """A child instance to create; ``conflict`` goes to the parent instead when its
    ID is taken by an unfinished instance."""

    instance_id: str
    name: str
    input: str | None
    execution_id: str
    started: h.ExecutionStarted
    conflict: h.SubOrchestrationFailed


@dataclass(slots=True)
class Outgoing:
    """An event for an instance's inbox (``execution_id`` None: whichever is current)."""

    instance_id: str
    execution_id: str | None
    event: h.Event
    visible_at: Nanos


@dataclass(slots=True)
class NewExecution:
    """Continue-as-new: the execution that replaces this one."""

    execution_id: str
    input: str | None
    started: h.ExecutionStarted
    carryover: list[h.Event]


@dataclass(slots=True)
class TurnRecords:
    history: list[h.Event]
    activities: list[h.ScheduleActivity] = field(default_factory=list)
    timers: list[h.TimerFired] = field(default_factory=list)  # to deliver at fire_at
    children: list[ChildRecord] = field(default_factory=list)
    outgoing: list[Outgoing] = field(default_factory=list)
    status: str = WorkflowStatus.RUNNING.value
    output: str | None = None
    failure: FailureDetails | None = None
    custom_status: str | None = None
    custom_status_set: bool = False
    finished: bool = False  # the instance reached a terminal status
    continue_as_new: NewExecution | None = None
    # Actions refused (an invalid target ID, say), for the runtime to log.
    refused: list[str] = field(default_factory=list)


def build_turn(
    view: InstanceView,
    events: Sequence[h.Event],
    turn: Turn,
    now: Nanos,
    *,
    new_id: Callable[[], str],
    max_child_depth: int = DEFAULT_MAX_CHILD_DEPTH,
) -> TurnRecords:
    """The records of one turn. ``events``: the turn's new events, stamped with
    ``now`` and led by its OrchestratorStarted marker; ``new_id`` makes execution
    IDs (for children and continue-as-new)."""
    history = list(events)
    if turn.patches or turn.version is not None:
        _stamp(history, turn)
    records = TurnRecords(
        history=history,
        custom_status=turn.custom_status,
        custom_status_set=turn.custom_status_set,
        status=(WorkflowStatus.SUSPENDED if turn.suspended else WorkflowStatus.RUNNING).value,
    )
    for action in turn.actions:
        if isinstance(action, h.CompleteWorkflow):
            _complete(view, action, records, now, new_id, turn.version)
            break  # nothing after the completion applies
        _apply_action(view, action, records, now, new_id, max_child_depth)
    return records


def _stamp(history: list[h.Event], turn: Turn) -> None:
    """The turn's version and patches ride on its marker; the version chosen at
    start is recorded on ExecutionStarted, so replays run the same code."""
    for n, event in enumerate(history):
        if isinstance(event, h.OrchestratorStarted) and (turn.patches or turn.version):
            if event.patches != turn.patches or event.version != turn.version:
                history[n] = dataclasses.replace(event, version=turn.version, patches=turn.patches)
            break
    if turn.version is not None:
        for n, event in enumerate(history):
            if isinstance(event, h.ExecutionStarted) and event.version != turn.version:
                history[n] = dataclasses.replace(event, version=turn.version)


def _apply_action(
    view: InstanceView,
    action: h.Action,
    records: TurnRecords,
    now: Nanos,
    new_id: Callable[[], str],
    max_child_depth: int,
) -> None:
    if isinstance(action, h.ScheduleActivity):
        records.history.append(record_of(action, now))
        records.activities.append(action)
    elif isinstance(action, h.StartTimer):
        records.history.append(record_of(action, now))
        if action.fire_at < NEVER_FIRES_FROM:
            records.timers.append(h.TimerFired(0, action.task_id, action.fire_at))
    elif isinstance(action, h.StartChildWorkflow):
        records.history.append(record_of(action, now))
        refusal = _child_refusal(view, action, max_child_depth)
        if refusal is not None:
            records.refused.append(refusal.message)
            failed = h.SubOrchestrationFailed(now, action.task_id, refusal)
            records.outgoing.append(Outgoing(view.instance_id, view.execution_id, failed, now))
            return
        records.children.append(_child(view, action, now, new_id()))
    elif isinstance(action, h.SendEvent):
        records.history.append(record_of(action, now))
        if not is_valid_instance_id(action.instance_id):
            records.refused.append(f"event {action.name!r} not sent: invalid target ID")
            return
        raised = h.EventRaised(now, action.name, action.input)
        records.outgoing.append(Outgoing(action.instance_id, None, raised, now))
    elif isinstance(action, h.TerminateInstance):
        if not is_valid_instance_id(action.instance_id):
            records.refused.append("terminate not sent: invalid target ID")
            return
        stop = h.ExecutionTerminated(now, action.reason, action.recursive)
        records.outgoing.append(Outgoing(action.instance_id, None, stop, now))


def _child_refusal(
    view: InstanceView, action: h.StartChildWorkflow, max_depth: int
) -> FailureDetails | None:
    if not is_valid_instance_id(action.instance_id):
        return FailureDetails(
            "ValueError", f"invalid child workflow instance ID {action.instance_id!r:.100}"
        )
    if view.depth + 1 > max_depth:
        return FailureDetails(
            "ChildDepthExceededError",
            f"child workflow {action.name!r} would be {view.depth + 1} levels deep, "
            f"past the limit of {max_depth} (max_child_depth)",
        )
    return None


def _child(
    view: InstanceView, action: h.StartChildWorkflow, now: Nanos, execution_id: str
) -> ChildRecord:
    parent = h.ParentInfo(view.instance_id, view.execution_id, action.task_id, view.name)
    started = h.ExecutionStarted(
        now,
        action.name,
        action.input,
        parent,
        action.version,
        trace_context=action.trace_context,
        depth=view.depth + 1,
    )
    conflict = h.SubOrchestrationFailed(
        now,
        action.task_id,
        FailureDetails(
            "InstanceAlreadyExistsError",
            f"a workflow instance {action.instance_id!r} is already running",
        ),
    )
    return ChildRecord(
        action.instance_id, action.name, action.input, execution_id, started, conflict
    )


def _complete(
    view: InstanceView,
    action: h.CompleteWorkflow,
    records: TurnRecords,
    now: Nanos,
    new_id: Callable[[], str],
    version: str | None,
) -> None:
    status = action.status
    if status == WorkflowStatus.CONTINUED_AS_NEW.value:
        started = h.ExecutionStarted(
            now,
            view.name,
            action.result,
            view.parent,
            action.new_version or version,
            depth=view.depth,
            scheduled_time=view.scheduled_time,
        )
        records.continue_as_new = NewExecution(
            new_id(), action.result, started, list(action.carryover)
        )
        # The old run's pending work goes with its history.
        records.activities.clear()
        records.timers.clear()
        records.status = status  # until the new execution's first turn
        return
    if status not in TERMINAL_STATUSES:
        status = WorkflowStatus.FAILED.value
    records.status = status
    records.finished = True
    records.output = action.result
    records.failure = action.failure
    records.history.append(h.ExecutionCompleted(now, status, action.result, action.failure))
    for child_id in action.terminate_children:
        stop = h.ExecutionTerminated(now, None, recursive=True)
        records.outgoing.append(Outgoing(child_id, None, stop, now))
    parent = view.parent
    if parent is None:
        return
    if status == WorkflowStatus.COMPLETED.value:
        event: h.Event = h.SubOrchestrationCompleted(now, parent.task_id, action.result)
    else:
        failure = action.failure or FailureDetails(
            "WorkflowTerminatedError", f"child workflow {view.instance_id!r} was terminated"
        )
        event = h.SubOrchestrationFailed(now, parent.task_id, failure)
    records.outgoing.append(Outgoing(parent.instance_id, parent.execution_id, event, now))


def record_of(action: h.Action, ts: Nanos) -> h.Event:
    """The history event that records ``action`` (for actions that have one)."""
    if isinstance(action, h.ScheduleActivity):
        return h.TaskScheduled(
            ts,
            action.task_id,
            action.name,
            action.input,
            action.version,
            action.task_execution_id,
            action.trace_context,
            action.source,
        )
    if isinstance(action, h.StartTimer):
        return h.TimerCreated(
            ts,
            action.task_id,
            action.fire_at,
            action.name,
            action.origin,
            action.origin_name,
            action.source,
        )
    if isinstance(action, h.StartChildWorkflow):
        return h.SubOrchestrationCreated(
            ts,
            action.task_id,
            action.name,
            action.instance_id,
            action.input,
            action.version,
            action.source,
            action.trace_context,
        )
    if isinstance(action, h.SendEvent):
        return h.EventSent(
            ts, action.task_id, action.instance_id, action.name, action.input, action.source
        )
    raise TypeError(f"{type(action).__name__} has no history record")


def describe_record(event: h.Event) -> str:
    if isinstance(event, h.TaskScheduled):
        return f"activity {event.name!r}"
    if isinstance(event, h.SubOrchestrationCreated):
        return f"child workflow {event.name!r}"
    if isinstance(event, h.TimerCreated):
        return "a timer"
    if isinstance(event, h.EventSent):
        return f"sending event {event.name!r}"
    return type(event).__name__
