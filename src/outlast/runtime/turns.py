"""From a turn's records to the store's ``TurnWrite``: events encoded, times in the
store's float seconds, and what a turn that cannot commit leaves behind.

``core.turn.build_turn`` decides what a turn records; this module only packs it
for the store (which knows rows and bytes, not workflow rules).
"""

from __future__ import annotations

from collections.abc import Sequence

from outlast.core import history as h
from outlast.core.codec import encode_event
from outlast.core.serialization import to_json
from outlast.core.status import WorkflowStatus
from outlast.core.times import NS_PER_SECOND, Nanos, to_seconds
from outlast.core.turn import InstanceView, TurnRecords
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
    view: InstanceView,
    records: TurnRecords,
    *,
    history_start: int,
    previous_status: str,
    consumed: list[int],
    local: Sequence[tuple[ActivityResult, h.Event]],
    worker_id: str,
    now: Nanos,
    shared_marker: tuple[h.Event | None, str] = (None, ""),
) -> TurnWrite:
    """The store's write for one turn. ``local``: the turn's activity results that no
    inbox row carried, each with its event in the turn. ``shared_marker``: the
    round's OrchestratorStarted and its encoding, shared by the round's turns."""
    iid, exec_id = view.instance_id, view.execution_id
    seconds = now / NS_PER_SECOND
    marker, marker_text = shared_marker
    history = [marker_text if e is marker else encode_event(e) for e in records.history]
    status = records.status
    update = InstanceUpdate(
        status=status,
        updated_at=seconds,
        custom_status=records.custom_status,
        set_custom_status=records.custom_status_set,
        # Waiting clients care about status changes; most turns make none.
        status_changed=status != previous_status
        or records.custom_status_set
        or records.finished
        or records.continue_as_new is not None,
    )
    turn = TurnWrite(iid, exec_id, history_start, history, update, consumed)
    # Each kind of row only when the turn has some: most turns schedule one thing.
    if records.activities:
        turn.activities = [
            ActivityRecord(
                iid,
                exec_id,
                a.task_id,
                a.name,
                a.input,
                worker_id,
                a.attempt,
                a.options,
                a.key,
                a.priority,
            )
            for a in records.activities
        ]
    if records.timers:
        turn.messages = [
            Message(iid, exec_id, encode_event(t), t.fire_at / NS_PER_SECOND)
            for t in records.timers
        ]
    if records.children:
        turn.children = [
            ChildStart(
                pending_record(c.instance_id, c.name, c.execution_id, seconds, c.input, iid),
                Message(c.instance_id, c.execution_id, encode_event(c.started), seconds),
                Message(iid, exec_id, encode_event(c.conflict), seconds),
            )
            for c in records.children
        ]
    for o in records.outgoing:
        turn.messages.append(
            Message(
                o.instance_id, o.execution_id, encode_event(o.event), o.visible_at / NS_PER_SECOND
            )
        )
    if local:
        # Should the store refuse the turn, the results go to the inbox instead; they
        # are the history's own events, already encoded.
        turn.fallback = [
            Message(r.instance_id, r.execution_id, text, seconds)
            for r, e in local
            for recorded, text in zip(records.history, history, strict=True)
            if recorded is e
        ]
    new = records.continue_as_new
    if new is not None:
        turn.reset_history = True
        turn.history = []
        turn.history_start = 0
        turn.activities = []
        turn.messages = [m for m in turn.messages if m.execution_id != exec_id]
        # Visible from the epoch on: ahead of every event still in the inbox, all of
        # which arrived after the ones carried over.
        turn.messages.append(Message(iid, new.execution_id, encode_event(new.started), 0.0))
        turn.messages.extend(
            Message(iid, new.execution_id, encode_event(e), 0.0) for e in new.carryover
        )
        update.new_execution_id = new.execution_id
        update.new_input = new.input
    elif records.finished:
        update.release = True
        update.output = records.output
        if records.failure is not None:
            update.failure = to_json(records.failure.to_dict())
    return turn


def stall_turn(
    record: InstanceRecord,
    error: BaseException,
    terminate: h.ExecutionTerminated | None,
    consumed: list[int],
    history_start: int,
    now: Nanos,
) -> TurnWrite:
    """The code can't run this history: keep everything, mark it STALLED. A
    terminate request still ends it, without running the code."""
    seconds = to_seconds(now)
    if terminate is not None:
        status, output, failure = WorkflowStatus.TERMINATED, terminate.output, None
        done = h.ExecutionCompleted(now, status.value, output)
        history = [encode_event(h.OrchestratorStarted(now)), encode_event(done)]
    else:
        details = FailureDetails.from_exception(error)
        details = FailureDetails(details.error_type, details.message)
        status, output, failure = WorkflowStatus.STALLED, None, to_json(details.to_dict())
        consumed, history = [], []
    return TurnWrite(
        instance_id=record.instance_id,
        execution_id=record.execution_id,
        history_start=history_start,
        history=history,
        update=InstanceUpdate(
            status=status.value, updated_at=seconds, output=output, failure=failure, release=True
        ),
        consumed=consumed,
    )


def result_event(r: ActivityResult, now: Nanos) -> h.Event:
    if r.failure is not None:
        return h.TaskFailed(now, r.task_id, r.failure)
    return h.TaskCompleted(now, r.task_id, r.result)


def result_message(r: ActivityResult, now: Nanos) -> Message:
    return Message(
        r.instance_id, r.execution_id, encode_event(result_event(r, now)), to_seconds(now)
    )
