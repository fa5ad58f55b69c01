"""The schedule methods of ``WorkflowClient``: create, read, pause, resume, trigger,
update, delete and backfill schedules.

A schedule is stored state; the runtimes on its store fire its ticks (see
``outlast.runtime.scheduler``), each tick an instance with the deterministic ID
``{schedule_id}-{tick in UTC, ISO 8601 basic}``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Final

from outlast.client import catalog
from outlast.client.schedule_fire import fire_starts, tick_start
from outlast.client.schedule_spec import (
    UNSET,
    build_spec,
    dumps,
    epoch,
    spec_arguments,
    spec_fields,
)
from outlast.client.schedule_state import Schedule, SchedulePage, schedule_of, spec_of
from outlast.clock import Clock
from outlast.core.registry import name_of
from outlast.core.schedule import ScheduleSpec, validate_schedule_id
from outlast.core.serialization import encode_payload
from outlast.errors import (
    InstanceAlreadyExistsError,
    ScheduleAlreadyExistsError,
    ScheduleNotFoundError,
    StoreError,
    UnknownWorkflowError,
)
from outlast.store import Store
from outlast.store.schedules import RUN_BACKFILL, RUN_TRIGGER, ScheduleRecord

# A backfill starts at most this many ticks (ask for several ranges beyond it).
MAX_BACKFILL: Final = 10_000
_CHUNK: Final = 100  # ticks per transaction
_ATTEMPTS: Final = 50  # compare-and-set retries against concurrent fires
_TIMING = ("cron", "every", "timezone", "start_at", "end_at")


class ScheduleClient:
    """Mixed into ``WorkflowClient``."""

    _store: Store
    _clock: Clock
    _max_payload: int | None

    def create_schedule(
        self,
        schedule_id: str,
        workflow: Callable[..., Any] | str,
        *,
        input: Any = None,
        cron: str | None = None,
        every: timedelta | float | None = None,
        timezone: str = "UTC",
        start_at: datetime | None = None,
        end_at: datetime | None = None,
        jitter: timedelta | float | None = None,
        overlap: str = "skip",
        catchup: str = "skip",
        paused: bool = False,
        note: str | None = None,
    ) -> Schedule:
        """Create a schedule that starts ``workflow`` at every tick of ``cron`` (in
        ``timezone``) or ``every`` interval, from ``start_at`` until before
        ``end_at``. ``jitter`` spreads each start over that long after its tick.
        ``overlap``: what a tick does while the previous run still runs (``skip``,
        ``buffer_one``, ``allow_all``, ``terminate_previous``); ``catchup``: what
        becomes of ticks missed while no runtime ran (``skip``, ``one``, ``all``).
        ScheduleAlreadyExistsError if the ID is taken."""
        sid = validate_schedule_id(schedule_id)
        name = self._workflow_name(workflow)
        spec = build_spec(
            cron=cron,
            every=every,
            timezone=timezone,
            start_at=start_at,
            end_at=end_at,
            jitter=jitter,
            overlap=overlap,
            catchup=catchup,
        )
        payload = encode_payload(input, self._max_payload, "the schedule input")
        now = self._clock.now()
        record = ScheduleRecord(
            schedule_id=sid,
            workflow=name,
            input=payload,
            spec=dumps(spec),
            created_at=now,
            updated_at=now,
            paused=paused,
            note=note,
            next_run_at=spec.next_tick(now),
        )
        self._store.create_schedule(record)
        return schedule_of(record)

    def get_schedule(self, schedule_id: str, *, recent_runs: int = 10) -> Schedule | None:
        """The schedule with its next run time and its ``recent_runs`` latest runs
        (each with its instance's status); None if there is no such schedule."""
        record = self._store.get_schedule(schedule_id)
        if record is None:
            return None
        return schedule_of(record, self._store.schedule_runs(schedule_id, recent_runs))

    def list_schedules(
        self,
        *,
        page_size: int = 100,
        continuation_token: str | None = None,
        recent_runs: int = 5,
    ) -> SchedulePage:
        """One page of schedules by ID, each with its ``recent_runs`` latest runs.
        Pass the page's ``continuation_token`` back for the next; None on the last."""
        if not 1 <= page_size <= 1000:
            raise ValueError("page_size must be between 1 and 1000")
        records = self._store.list_schedules(continuation_token, page_size + 1)
        token = None
        if len(records) > page_size:
            records = records[:page_size]
            token = records[-1].schedule_id
        return SchedulePage(
            [
                schedule_of(
                    r, self._store.schedule_runs(r.schedule_id, recent_runs) if recent_runs else ()
                )
                for r in records
            ],
            token,
        )

    def pause_schedule(self, schedule_id: str, *, note: str | None = None) -> None:
        """Stop starting runs (running ones go on) until ``resume_schedule``."""
        self._change(schedule_id, lambda r, now: replace(r, paused=True, note=note))

    def resume_schedule(self, schedule_id: str, *, note: str | None = None) -> None:
        """Start runs again from the next tick on; ticks that passed while paused
        are not run (``backfill_schedule`` runs them if wanted)."""

        def resume(record: ScheduleRecord, now: float) -> ScheduleRecord:
            if not record.paused:
                return replace(record, note=note) if note is not None else record
            return replace(
                record, paused=False, note=note, next_run_at=spec_of(record).next_tick(now)
            )

        self._change(schedule_id, resume)

    def update_schedule(
        self,
        schedule_id: str,
        *,
        workflow: Callable[..., Any] | str = UNSET,
        input: Any = UNSET,
        cron: str | None = UNSET,
        every: timedelta | float | None = UNSET,
        timezone: str = UNSET,
        start_at: datetime | None = UNSET,
        end_at: datetime | None = UNSET,
        jitter: timedelta | float | None = UNSET,
        overlap: str = UNSET,
        catchup: str = UNSET,
    ) -> Schedule:
        """Change what is given and keep the rest. Giving ``cron`` clears ``every``
        and the other way round. A change of timing makes the next run the first
        tick of the new timing from now on."""
        given = spec_fields(
            cron=cron,
            every=every,
            timezone=timezone,
            start_at=start_at,
            end_at=end_at,
            jitter=jitter,
            overlap=overlap,
            catchup=catchup,
        )
        if given.get("cron") is not None and "every" not in given:
            given["every"] = None
        if given.get("every") is not None and "cron" not in given:
            given["cron"] = None
        name = None if workflow is UNSET else self._workflow_name(workflow)
        payload = (
            UNSET
            if input is UNSET
            else encode_payload(input, self._max_payload, "the schedule input")
        )

        def update(record: ScheduleRecord, now: float) -> ScheduleRecord:
            spec = ScheduleSpec.from_dict({**spec_of(record).to_dict(), **given})
            changed = replace(
                record,
                spec=dumps(spec),
                workflow=record.workflow if name is None else name,
                input=record.input if payload is UNSET else payload,
            )
            if any(k in given for k in _TIMING):
                changed.next_run_at = spec.next_tick(now)
            return changed

        self._change(schedule_id, update)
        found = self.get_schedule(schedule_id)
        if found is None:
            raise ScheduleNotFoundError(f"no schedule with ID {schedule_id!r}")
        return found

    def put_schedule(
        self,
        schedule_id: str,
        workflow: Callable[..., Any] | str,
        spec: ScheduleSpec,
        *,
        input: Any = None,
    ) -> Schedule:
        """Create the schedule, or bring an existing one to this definition (what
        ``@runtime.schedule`` does at start). Its state stays: paused or not, and its
        next run unless the timing changed (then it is the new timing's first tick
        from now on)."""
        sid = validate_schedule_id(schedule_id)
        name = self._workflow_name(workflow)
        payload = encode_payload(input, self._max_payload, "the schedule input")
        text = dumps(spec)
        for _ in range(_ATTEMPTS):
            record = self._store.get_schedule(sid)
            now = self._clock.now()
            if record is None:
                try:
                    return self.create_schedule(sid, name, input=input, **spec_arguments(spec))
                except ScheduleAlreadyExistsError:
                    continue  # created meanwhile, by another runtime starting up
            old = spec_of(record)
            if (record.workflow, record.input, old) == (name, payload, spec):
                return schedule_of(record)
            changed = replace(record, workflow=name, input=payload, spec=text, updated_at=now)
            if any(getattr(old, k) != getattr(spec, k) for k in _TIMING):
                changed.next_run_at = spec.next_tick(now)
            if self._store.replace_schedule(changed, record.version):
                return schedule_of(changed)
        raise StoreError(f"schedule {schedule_id!r} kept changing; try again")

    def delete_schedule(self, schedule_id: str) -> bool:
        """Delete the schedule (its runs' instances stay); False if there was none."""
        return self._store.delete_schedule(schedule_id)

    def trigger_schedule(self, schedule_id: str) -> str:
        """Start a run now, whatever the overlap policy, paused or not; return its
        instance ID (``{schedule_id}-{now}``). InstanceAlreadyExistsError if a run
        with that ID was started in the same second."""
        for _ in range(_ATTEMPTS):
            record = self._require_schedule(schedule_id)
            now = self._clock.now()
            start = tick_start(record, spec_of(record), math.floor(now), now, RUN_TRIGGER)
            created = fire_starts(self._store, record, [start], now, becomes_last=True)
            if created is None:
                continue
            if not created:
                raise InstanceAlreadyExistsError(
                    f"schedule {schedule_id!r} already has a run this second, "
                    f"{start.record.instance_id!r}"
                )
            return created[0]
        raise StoreError(f"schedule {schedule_id!r} kept changing; trigger it again")

    def backfill_schedule(self, schedule_id: str, start: datetime, end: datetime) -> list[str]:
        """Start a run for every tick in ``[start, end)`` whose instance does not
        exist yet (a tick that ran is never run again), whatever the overlap policy;
        return the IDs started."""
        record = self._require_schedule(schedule_id)
        low, high = epoch(start), epoch(end)
        assert low is not None and high is not None
        if high <= low:
            raise ValueError("the backfill's end must be later than its start")
        ticks = spec_of(record).ticks_between(low, high, MAX_BACKFILL)
        created: list[str] = []
        for first in range(0, len(ticks), _CHUNK):
            created += self._backfill(schedule_id, ticks[first : first + _CHUNK])
        return created

    def _backfill(self, schedule_id: str, ticks: list[int]) -> list[str]:
        for _ in range(_ATTEMPTS):
            record = self._require_schedule(schedule_id)
            now = self._clock.now()
            spec = spec_of(record)
            starts = [tick_start(record, spec, t, now, RUN_BACKFILL) for t in ticks]
            created = fire_starts(self._store, record, starts, now, becomes_last=False)
            if created is not None:
                return created
        raise StoreError(f"schedule {schedule_id!r} kept changing; backfill it again")

    # --- plumbing ------------------------------------------------------------------

    def _workflow_name(self, workflow: Callable[..., Any] | str) -> str:
        name = name_of(workflow)
        if catalog.rejects(self._store, name):
            raise UnknownWorkflowError(
                f"no workflow named {name!r} is registered on the runtime in this process"
            )
        return name

    def _require_schedule(self, schedule_id: str) -> ScheduleRecord:
        record = self._store.get_schedule(schedule_id)
        if record is None:
            raise ScheduleNotFoundError(f"no schedule with ID {schedule_id!r}")
        return record

    def _change(
        self, schedule_id: str, change: Callable[[ScheduleRecord, float], ScheduleRecord]
    ) -> None:
        """Compare-and-set ``change`` of the schedule, retried while runtimes fire it."""
        for _ in range(_ATTEMPTS):
            record = self._require_schedule(schedule_id)
            now = self._clock.now()
            changed = change(record, now)
            if changed is record:
                return
            if self._store.replace_schedule(replace(changed, updated_at=now), record.version):
                return
        raise StoreError(f"schedule {schedule_id!r} kept changing; try again")
