"""From a turn's result to the records that commit it: the worker's write side.

Pure functions: a ``TurnResult`` from the replay core plus what the turn consumed
in, a ``TurnWrite`` for the store out.
"""

from __future__ import annotations

import uuid

from outlast.core import history as h
from outlast.core.executor import Completion, TurnResult, WorkflowExecutor
from outlast.core.serialization import to_json
from outlast.core.status import WorkflowStatus
from outlast.errors import FailureDetails
from outlast.runtime.activities import ActivityResult
from outlast.store.base import (
    ActivityRecord,
    ChildStart,
    InstanceRecord,
    InstanceUpdate,
    Message,
    TurnWrite,
    pending_record,
)


def write_turn(
    ex: WorkflowExecutor,
    result: TurnResult,
    *,
    history_start: int,
    previous_status: str,
    consumed: list[int],
    local: list[ActivityResult],
    first_local: int,
    worker_id: str,
    now: float,
) -> TurnWrite:
    """The records of one turn: history, activities, timers, children, status.
    ``local`` are the turn's activity results that no inbox row carried; their
    events start at ``first_local`` in the turn's history."""
    iid, exec_id = ex.instance_id, ex.execution_id
    activities: list[ActivityRecord] = []
    messages: list[Message] = []
    children: list[ChildStart] = []
    for action in result.actions:
        if isinstance(action, h.ScheduleActivity):
            activities.append(
                ActivityRecord(iid, exec_id, action.task_id, action.name, action.input, worker_id)
            )
        elif isinstance(action, h.StartTimer):
            fired = h.TimerFired(0.0, action.task_id, action.fire_at)
            messages.append(Message(iid, exec_id, h.encode_event(fired), action.fire_at))
        else:
            children.append(child_start(ex, action, now))
    status = result.status.value
    update = InstanceUpdate(
        status=status,
        updated_at=now,
        custom_status=result.custom_status,
        set_custom_status=result.custom_status_changed,
        # Waiting clients care about status changes; most turns make none.
        status_changed=status != previous_status
        or result.custom_status_changed
        or result.completion is not None,
    )
    history = [h.encode_event(e) for e in result.history]
    turn = TurnWrite(
        instance_id=iid,
        execution_id=exec_id,
        history_start=history_start,
        history=history,
        update=update,
        consumed=consumed,
        activities=activities,
        messages=messages,
        children=children,
        # Should the store refuse the turn, the results go to the inbox instead; they
        # are the history's own events, already encoded.
        fallback=[
            Message(r.instance_id, r.execution_id, history[first_local + n], now)
            for n, r in enumerate(local)
        ],
    )
    if result.completion is not None:
        _complete(ex, result.completion, turn, now)
    return turn


def _complete(ex: WorkflowExecutor, completion: Completion, turn: TurnWrite, now: float) -> None:
    update = turn.update
    status = completion.status
    if status is WorkflowStatus.CONTINUED_AS_NEW:
        new_exec = uuid.uuid4().hex
        turn.reset_history = True
        turn.history = []
        turn.history_start = 0
        turn.activities = []
        started = h.ExecutionStarted(now, ex.name, completion.new_input, ex.parent)
        turn.messages = [Message(ex.instance_id, new_exec, h.encode_event(started), now)]
        turn.messages.extend(
            Message(ex.instance_id, new_exec, h.encode_event(e), now) for e in completion.carryover
        )
        update.new_execution_id = new_exec
        update.new_input = completion.new_input
        return
    update.release = True
    update.output = completion.result
    for child_id in completion.terminate_children:
        stop = h.ExecutionTerminated(now, None, recursive=True)
        turn.messages.append(Message(child_id, None, h.encode_event(stop), now))
    if completion.failure is not None:
        update.failure = to_json(completion.failure.to_dict())
    parent = ex.parent
    if parent is None:
        return
    if status is WorkflowStatus.COMPLETED:
        event: h.Event = h.SubOrchestrationCompleted(now, parent.task_id, completion.result)
    else:
        failure = completion.failure or FailureDetails(
            "WorkflowTerminatedError", f"child workflow {ex.instance_id!r} was terminated"
        )
        event = h.SubOrchestrationFailed(now, parent.task_id, failure)
    turn.messages.append(
        Message(parent.instance_id, parent.execution_id, h.encode_event(event), now)
    )


def child_start(ex: WorkflowExecutor, action: h.StartChildWorkflow, now: float) -> ChildStart:
    child_exec = uuid.uuid4().hex
    parent = h.ParentInfo(ex.instance_id, ex.execution_id, action.task_id)
    record = pending_record(
        action.instance_id, action.name, child_exec, now, action.input, ex.instance_id
    )
    started = h.ExecutionStarted(now, action.name, action.input, parent)
    conflict = h.SubOrchestrationFailed(
        now,
        action.task_id,
        FailureDetails(
            "InstanceAlreadyExistsError",
            f"a workflow instance {action.instance_id!r} is already running",
        ),
    )
    return ChildStart(
        record,
        Message(action.instance_id, child_exec, h.encode_event(started), now),
        Message(ex.instance_id, ex.execution_id, h.encode_event(conflict), now),
    )


def stall_turn(
    record: InstanceRecord,
    error: Exception,
    terminate: h.ExecutionTerminated | None,
    consumed: list[int],
    history_start: int,
    now: float,
) -> TurnWrite:
    """The code can't run this history: keep everything, mark it STALLED. A
    terminate request still ends it, without running the code."""
    if terminate is not None:
        status, output, failure = WorkflowStatus.TERMINATED, terminate.output, None
        history = [h.encode_event(h.ExecutionCompleted(now, status.value, output))]
    else:
        details = FailureDetails(type(error).__name__, str(error))
        status, output, failure = WorkflowStatus.STALLED, None, to_json(details.to_dict())
        consumed, history = [], []
    return TurnWrite(
        instance_id=record.instance_id,
        execution_id=record.execution_id,
        history_start=history_start,
        history=history,
        update=InstanceUpdate(
            status=status.value, updated_at=now, output=output, failure=failure, release=True
        ),
        consumed=consumed,
    )


def result_event(r: ActivityResult, now: float) -> h.Event:
    if r.failure is not None:
        return h.TaskFailed(now, r.task_id, r.failure)
    return h.TaskCompleted(now, r.task_id, r.result)


def result_message(r: ActivityResult, now: float) -> Message:
    return Message(r.instance_id, r.execution_id, h.encode_event(result_event(r, now)), now)
