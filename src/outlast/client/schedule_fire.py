"""Turning a schedule's decisions into one store write: tick instances (each with
the ``ExecutionStarted`` that carries its tick time), run rows, the moved cursor.

The runtime's scheduler fires due ticks through :func:`fire_due`; a client's
trigger and backfill build their starts with :func:`tick_start` too.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Sequence

from outlast.client.schedule_state import spec_of
from outlast.core import history as h
from outlast.core.codec import encode_event
from outlast.core.schedule import ScheduleSpec, plan_ticks, tick_instance_id
from outlast.core.serialization import encode_payload
from outlast.core.status import TERMINAL_STATUSES
from outlast.core.times import NS_PER_SECOND, from_seconds
from outlast.store import Store
from outlast.store.base import Message, pending_record
from outlast.store.schedules import (
    RUN_SKIPPED,
    RUN_TICK,
    ScheduleFire,
    ScheduleRecord,
    ScheduleRun,
    ScheduleStart,
)

log = logging.getLogger("outlast.schedules")


def tick_start(
    record: ScheduleRecord, spec: ScheduleSpec, tick: int, now: float, kind: str
) -> ScheduleStart:
    """The instance of one tick, started ``now`` (its start message becomes
    visible after the tick's jitter, if the spec has any)."""
    iid = tick_instance_id(record.schedule_id, tick)
    execution_id = uuid.uuid4().hex
    started = h.ExecutionStarted(
        from_seconds(now), record.workflow, record.input, scheduled_time=tick * NS_PER_SECOND
    )
    visible_at = max(now, tick + spec.jitter_offset(record.schedule_id, tick))
    return ScheduleStart(
        pending_record(iid, record.workflow, execution_id, now, record.input),
        Message(iid, execution_id, encode_event(started), visible_at),
        ScheduleRun(record.schedule_id, float(tick), iid, kind, now),
    )


def is_running(store: Store, instance_id: str | None) -> bool:
    """Whether the instance exists and has not finished."""
    if instance_id is None:
        return False
    found = store.get_instance(instance_id)
    return found is not None and found.status not in TERMINAL_STATUSES


def _whole(ts: float | None) -> int | None:
    return None if ts is None else math.floor(ts)


def fire_due(store: Store, record: ScheduleRecord, now: float) -> list[str] | None:
    """Start what is due of one schedule at ``now`` and move its cursor, in one
    transaction; return the IDs of the instances started (``[]``: none were due),
    or None when the schedule changed meanwhile (another worker fired it, or a
    client updated it) and nothing was written."""
    spec = spec_of(record)
    check = spec.overlap != "allow_all" or record.buffered_at is not None
    running = check and is_running(store, record.last_instance_id)
    cursor, buffered = _whole(record.next_run_at), _whole(record.buffered_at)
    plan = plan_ticks(spec, cursor, buffered, running, now)
    if (
        not (plan.start or plan.skipped or plan.terminate_previous)
        and plan.next_run_at == cursor
        and plan.buffered == buffered
    ):
        return []
    starts = [tick_start(record, spec, t, now, RUN_TICK) for t in plan.start]
    messages: list[Message] = []
    if plan.terminate_previous and record.last_instance_id is not None and starts:
        messages.append(_terminate(record.last_instance_id, starts[-1].record.instance_id, now))
    fire = ScheduleFire(
        schedule_id=record.schedule_id,
        expected_version=record.version,
        updated_at=now,
        next_run_at=plan.next_run_at,
        buffered_at=plan.buffered,
        last_instance_id=starts[-1].record.instance_id if starts else record.last_instance_id,
        starts=starts,
        skipped=[
            ScheduleRun(record.schedule_id, float(t), None, RUN_SKIPPED, now) for t in plan.skipped
        ],
        messages=messages,
    )
    created = store.fire_schedule(fire)
    if created is None:
        log.debug("schedule %s: fired elsewhere first", record.schedule_id)
    elif created:
        log.debug("schedule %s: started %s", record.schedule_id, ", ".join(created))
    if created is not None and plan.skipped:
        log.info(
            "schedule %s skipped %d ticks: a run was running", record.schedule_id, len(plan.skipped)
        )
    return created


def _terminate(instance_id: str, successor: str, now: float) -> Message:
    output = encode_payload(f"terminated by its schedule to start {successor}", None, "output")
    stop = h.ExecutionTerminated(from_seconds(now), output)
    return Message(instance_id, None, encode_event(stop), now)


def fire_starts(
    store: Store,
    read: ScheduleRecord,
    starts: Sequence[ScheduleStart],
    now: float,
    *,
    becomes_last: bool,
) -> list[str] | None:
    """Start ``starts`` for a schedule without moving its cursor (a trigger, a
    backfill); None when the schedule changed since ``read``."""
    last = read.last_instance_id
    if becomes_last and starts:
        last = starts[-1].record.instance_id
    return store.fire_schedule(
        ScheduleFire(
            schedule_id=read.schedule_id,
            expected_version=read.version,
            updated_at=now,
            next_run_at=read.next_run_at,
            buffered_at=read.buffered_at,
            last_instance_id=last,
            starts=list(starts),
        )
    )
