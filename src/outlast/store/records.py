"""The records a store moves: instances, inbox messages, activity rows, and the
batches a worker commits (re-exported by ``outlast.store.base``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from outlast.core.flow import Limit
from outlast.core.status import WorkflowStatus


@dataclass(slots=True)
class InstanceRecord:
    instance_id: str
    name: str
    status: str
    execution_id: str
    created_at: float
    updated_at: float
    input: str | None = None
    output: str | None = None
    custom_status: str | None = None
    failure: str | None = None  # FailureDetails as JSON
    parent_instance_id: str | None = None
    owner: str | None = None


def pending_record(
    instance_id: str,
    name: str,
    execution_id: str,
    now: float,
    input: str | None,
    parent_instance_id: str | None = None,
) -> InstanceRecord:
    """A new instance, not started yet: how clients and parent workflows create one."""
    return InstanceRecord(
        instance_id=instance_id,
        name=name,
        status=WorkflowStatus.PENDING.value,
        execution_id=execution_id,
        created_at=now,
        updated_at=now,
        input=input,
        parent_instance_id=parent_instance_id,
    )


@dataclass(slots=True)
class Message:
    """A new event for an instance, visible to workers from ``visible_at`` on."""

    instance_id: str
    execution_id: str | None  # None: whichever execution is current
    event: str  # an encoded history event
    visible_at: float
    id: int = 0  # assigned by the store
    # Set, by fetch_messages, on a message whose event the store cannot read (a
    # corrupt page): one such row must not make every fetch fail.
    error: str | None = None


@dataclass(slots=True)
class ActivityRecord:
    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None
    owner: str | None = None
    # The attempt this row runs (1 for a first try; a worker that dies or stops
    # while holding the row counts as an attempt), and the call's options as JSON
    # (heartbeat timeout, the previous attempt's heartbeat details), None when the
    # call has none, as most do.
    attempt: int = 1
    options: str | None = None
    # Flow control (outlast.store.admission): the call's key and priority, and,
    # for an activity a limit governs, when it joined the limit's queue. Such a
    # row is written unowned and waits there until an admission gives it a worker.
    key: str | None = None
    priority: int = 0
    queued_at: float | None = None

    @property
    def waiting_on_limit(self) -> bool:
        """Queued behind a limit: no worker may take it until it is admitted."""
        return self.owner is None and self.queued_at is not None


@dataclass(slots=True)
class Admission:
    """Admit queued activities of these limits to the committing worker, in the
    commit's transaction, at ``now``: ``room`` and ``backlog`` as for
    ``Store.admit_activities``."""

    limits: Sequence[Limit]
    now: float
    room: int
    backlog: int = 0


@dataclass(slots=True)
class ChildStart:
    """A child instance a turn creates. If its ID is taken by an unfinished instance,
    ``on_conflict`` is delivered (to the parent) instead."""

    record: InstanceRecord
    start: Message
    on_conflict: Message


@dataclass(slots=True)
class InstanceUpdate:
    status: str
    updated_at: float
    output: str | None = None
    failure: str | None = None
    custom_status: str | None = None
    set_custom_status: bool = False
    release: bool = False  # give up ownership (the instance finished or stalled)
    # continue-as-new: a fresh execution with this ID and input replaces the old one
    new_execution_id: str | None = None
    new_input: str | None = None
    # False when the status and custom status are as they were: the store then
    # need not wake clients waiting on this instance.
    status_changed: bool = True


@dataclass(slots=True)
class TurnWrite:
    """Everything one workflow turn changes, applied atomically or not at all."""

    instance_id: str
    execution_id: str
    history_start: int  # the sequence number of the first appended event
    history: list[str]
    update: InstanceUpdate
    consumed: list[int] = field(default_factory=list)  # inbox message IDs
    activities: list[ActivityRecord] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    children: list[ChildStart] = field(default_factory=list)
    reset_history: bool = False  # drop all earlier history and pending work first
    # Inserted instead if the turn can't be applied (another worker owns the
    # instance), so locally produced activity results are not lost.
    fallback: list[Message] = field(default_factory=list)


@dataclass(slots=True)
class CommitBatch:
    worker_id: str
    turns: list[TurnWrite] = field(default_factory=list)
    finished_activities: list[tuple[str, int]] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)  # not tied to a turn
    dropped_messages: list[int] = field(default_factory=list)
    # (message ID, new visible_at): messages put off, or brought forward again.
    rescheduled: list[tuple[int, float]] = field(default_factory=list)
    # Flow control: after the writes, admit queued activities to this worker; the
    # store puts the admitted ones (now owned by it) in ``admitted``.
    admission: Admission | None = None
    admitted: list[ActivityRecord] = field(default_factory=list)
    # Rows queued outside any turn (a limited workflow's slot), if not there yet.
    queued: list[ActivityRecord] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.turns
            or self.finished_activities
            or self.messages
            or self.dropped_messages
            or self.rescheduled
            or self.queued
        )


@dataclass(slots=True)
class InstanceQuery:
    statuses: Sequence[str] | None = None
    name: str | None = None
    created_after: float | None = None
    created_before: float | None = None
    parent_instance_id: str | None = None
    updated_before: float | None = None  # finished longer ago than this (retention)
    limit: int = 100
    after: tuple[float, str] | None = None  # keyset cursor: (created_at, instance_id)
    instance_id_prefix: str | None = None


@dataclass(slots=True)
class InstanceCounts:
    """How many instances there are in each status (statuses with none left out)."""

    by_status: dict[str, int]
    exact: bool = True  # False: lower bounds (a capped count) or estimates


@dataclass(slots=True)
class QueueStats:
    """Work waiting right now, for metrics: inbox messages visible (due) and the
    oldest one's ``visible_at``; activities scheduled and not finished."""

    ready_messages: int = 0
    oldest_ready_at: float | None = None
    activities: int = 0


# Filtered counts stop after this many instances (then they are lower bounds).
COUNT_CAP = 100_000
