"""``Schedule`` and ``ScheduleRun``: what clients read about a schedule."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from outlast.core.schedule import ScheduleSpec
from outlast.core.serialization import from_json
from outlast.core.status import WorkflowStatus
from outlast.store.schedules import ScheduleRecord
from outlast.store.schedules import ScheduleRun as RunRecord


def _time(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


@dataclass(frozen=True)
class ScheduleRun:
    """One tick of a schedule and the instance it started (``kind``: ``tick``,
    ``trigger`` or ``backfill``), or a tick the overlap policy passed over (``kind``
    ``skipped``, no instance). ``status`` is None when there is no instance (any
    more: a purged one)."""

    scheduled_time: datetime
    instance_id: str | None
    kind: str
    started_at: datetime
    status: WorkflowStatus | None


@dataclass(frozen=True)
class Schedule:
    """A schedule as ``get_schedule`` returns it: its definition, state, the next
    tick (``next_run_at``: None while paused or once ended) and its latest runs."""

    schedule_id: str
    workflow: str
    serialized_input: str | None
    cron: str | None
    every: timedelta | None
    timezone: str
    start_at: datetime | None
    end_at: datetime | None
    jitter: timedelta | None
    overlap: str
    catchup: str
    paused: bool
    note: str | None
    next_run_at: datetime | None
    buffered_time: datetime | None  # a tick held back by overlap="buffer_one"
    last_instance_id: str | None
    created_at: datetime
    updated_at: datetime
    recent_runs: tuple[ScheduleRun, ...] = ()

    def input_as(self, hint: Any = None) -> Any:
        """The decoded input each run starts with, converted to ``hint`` if given."""
        return from_json(self.serialized_input, hint)


@dataclass(frozen=True)
class SchedulePage:
    """A page of ``list_schedules``; iterate it for the schedules."""

    schedules: list[Schedule]
    continuation_token: str | None

    def __iter__(self) -> Iterator[Schedule]:
        return iter(self.schedules)

    def __len__(self) -> int:
        return len(self.schedules)


def spec_of(record: ScheduleRecord) -> ScheduleSpec:
    return ScheduleSpec.from_dict(orjson.loads(record.spec))


def run_of(run: RunRecord) -> ScheduleRun:
    return ScheduleRun(
        scheduled_time=datetime.fromtimestamp(run.scheduled_at, UTC),
        instance_id=run.instance_id,
        kind=run.kind,
        started_at=datetime.fromtimestamp(run.started_at, UTC),
        status=None if run.status is None else WorkflowStatus(run.status),
    )


def schedule_of(record: ScheduleRecord, runs: Sequence[RunRecord] = ()) -> Schedule:
    """The client's view of a stored schedule and its runs."""
    spec = spec_of(record)
    return Schedule(
        schedule_id=record.schedule_id,
        workflow=record.workflow,
        serialized_input=record.input,
        cron=spec.cron,
        every=None if spec.every is None else timedelta(seconds=spec.every),
        timezone=spec.timezone,
        start_at=_time(spec.start_at),
        end_at=_time(spec.end_at),
        jitter=None if spec.jitter is None else timedelta(seconds=spec.jitter),
        overlap=spec.overlap,
        catchup=spec.catchup,
        paused=record.paused,
        note=record.note,
        next_run_at=None if record.paused else _time(record.next_run_at),
        buffered_time=_time(record.buffered_at),
        last_instance_id=record.last_instance_id,
        created_at=datetime.fromtimestamp(record.created_at, UTC),
        updated_at=datetime.fromtimestamp(record.updated_at, UTC),
        recent_runs=tuple(run_of(r) for r in runs),
    )
