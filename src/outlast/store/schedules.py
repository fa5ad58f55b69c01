"""The store's part of schedules: schedule rows, their recent runs, and the one
transaction that starts a schedule's ticks and moves its cursor together.

The store does not read a schedule's spec (opaque JSON text): it indexes when the
schedule is next due, and applies a :class:`ScheduleFire` only if the schedule
is still at the version its caller read, so that of many workers firing the same
tick one succeeds and the others write nothing. Tick instances are created only
where their ID is free: a tick is never started twice, even by a backfill over
ticks that already ran.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from outlast.store.base import InstanceRecord, Message

# Runs kept per schedule, newest first by start: older rows are pruned as new ones
# come (the instances themselves stay, under the store's retention).
RUNS_KEPT = 100

RUN_TICK = "tick"
RUN_TRIGGER = "trigger"
RUN_BACKFILL = "backfill"
RUN_SKIPPED = "skipped"  # a tick passed over by the overlap policy


@dataclass(slots=True)
class ScheduleRecord:
    schedule_id: str
    workflow: str
    input: str | None
    spec: str  # the ScheduleSpec as JSON
    created_at: float
    updated_at: float
    paused: bool = False
    note: str | None = None  # why it was paused, say
    next_run_at: float | None = None  # the first tick not handled yet; None: ended
    buffered_at: float | None = None  # a tick held back until the running run ends
    last_instance_id: str | None = None  # the latest run started
    version: int = 0  # set by the store; bumped by every change


@dataclass(slots=True)
class ScheduleRun:
    """One tick of a schedule: the run it started, or that it was skipped."""

    schedule_id: str
    scheduled_at: float
    instance_id: str | None  # None for a skipped tick
    kind: str  # RUN_TICK, RUN_TRIGGER, RUN_BACKFILL or RUN_SKIPPED
    started_at: float
    status: str | None = None  # the instance's, when read; None if it is gone


@dataclass(slots=True)
class ScheduleStart:
    """A tick's instance: created, with its start message and run row, only if no
    instance has its ID."""

    record: InstanceRecord
    start: Message
    run: ScheduleRun


@dataclass(slots=True)
class ScheduleFire:
    """What firing a schedule changes, applied atomically and only while the
    schedule is at ``expected_version``."""

    schedule_id: str
    expected_version: int
    updated_at: float
    next_run_at: float | None
    buffered_at: float | None
    last_instance_id: str | None
    starts: list[ScheduleStart] = field(default_factory=list)
    skipped: list[ScheduleRun] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)  # e.g. terminate the last run


class ScheduleStore(ABC):
    """The schedule methods every store implements (part of ``Store``)."""

    @abstractmethod
    def create_schedule(self, record: ScheduleRecord) -> None:
        """Insert a schedule (its version becomes 1); ScheduleAlreadyExistsError if
        the ID is taken."""

    @abstractmethod
    def get_schedule(self, schedule_id: str) -> ScheduleRecord | None: ...

    @abstractmethod
    def list_schedules(self, after: str | None, limit: int) -> list[ScheduleRecord]:
        """Schedules by ID, from the first one after ``after`` on."""

    @abstractmethod
    def replace_schedule(self, record: ScheduleRecord, expected_version: int) -> bool:
        """Overwrite a schedule's fields if it is still at ``expected_version`` (and
        bump it); False if it changed meanwhile or is gone."""

    @abstractmethod
    def delete_schedule(self, schedule_id: str) -> bool:
        """Delete a schedule and its run rows (not its instances); False if absent."""

    @abstractmethod
    def due_schedules(self, now: float, limit: int) -> list[ScheduleRecord]:
        """Unpaused schedules due by ``now``, or holding a buffered tick."""

    @abstractmethod
    def next_schedule_due(self) -> float | None:
        """The earliest ``next_run_at`` of the unpaused schedules."""

    @abstractmethod
    def fire_schedule(self, fire: ScheduleFire) -> list[str] | None:
        """Apply ``fire`` in one transaction: move the schedule's cursor, create the
        tick instances whose IDs are free (with their start messages and run rows),
        record skipped ticks, send ``messages``, prune old run rows. Return the IDs
        of the instances created; None, writing nothing, if the schedule is not
        at ``fire.expected_version`` (someone else fired it) or is gone."""

    @abstractmethod
    def schedule_runs(self, schedule_id: str, limit: int) -> list[ScheduleRun]:
        """The schedule's latest runs, newest first (by start, then tick), with
        their instances' statuses."""


def run_order(run: ScheduleRun) -> tuple[float, float]:
    return (run.started_at, run.scheduled_at)


def all_messages(fire: ScheduleFire, created: Sequence[str]) -> list[Message]:
    """The messages a fire inserts: the start of each created instance, then the rest."""
    made = set(created)
    return [s.start for s in fire.starts if s.record.instance_id in made] + fire.messages
