"""The in-memory store's schedules (mixed into ``MemoryStore``)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from outlast.errors import ScheduleAlreadyExistsError
from outlast.store.schedules import (
    RUNS_KEPT,
    ScheduleFire,
    ScheduleRecord,
    ScheduleRun,
    ScheduleStore,
    all_messages,
    run_order,
)

if TYPE_CHECKING:
    from outlast.store.base import InstanceRecord, Message


class MemorySchedules(ScheduleStore):
    _lock: threading.RLock
    _instances: dict[str, InstanceRecord]
    _history: dict[str, list[str]]
    _schedules: dict[str, ScheduleRecord]
    _runs: dict[str, dict[float, ScheduleRun]]

    if TYPE_CHECKING:  # MemoryStore's and Store's

        def _add_messages(self, messages: Sequence[Message]) -> None: ...
        def signal(
            self,
            instance_ids: Iterable[str] | None = None,
            statuses: Mapping[str, str] | None = None,
        ) -> None: ...

    def create_schedule(self, record: ScheduleRecord) -> None:
        with self._lock:
            if record.schedule_id in self._schedules:
                raise ScheduleAlreadyExistsError(
                    f"a schedule with ID {record.schedule_id!r} already exists"
                )
            self._schedules[record.schedule_id] = replace(record, version=1)
            self._runs[record.schedule_id] = {}

    def get_schedule(self, schedule_id: str) -> ScheduleRecord | None:
        with self._lock:
            found = self._schedules.get(schedule_id)
            return None if found is None else replace(found)

    def list_schedules(self, after: str | None, limit: int) -> list[ScheduleRecord]:
        with self._lock:
            ids = sorted(i for i in self._schedules if after is None or i > after)
            return [replace(self._schedules[i]) for i in ids[:limit]]

    def replace_schedule(self, record: ScheduleRecord, expected_version: int) -> bool:
        with self._lock:
            found = self._schedules.get(record.schedule_id)
            if found is None or found.version != expected_version:
                return False
            self._schedules[record.schedule_id] = replace(record, version=expected_version + 1)
            return True

    def delete_schedule(self, schedule_id: str) -> bool:
        with self._lock:
            self._runs.pop(schedule_id, None)
            return self._schedules.pop(schedule_id, None) is not None

    def due_schedules(self, now: float, limit: int) -> list[ScheduleRecord]:
        with self._lock:
            due = [
                s
                for s in self._schedules.values()
                if not s.paused
                and (
                    (s.next_run_at is not None and s.next_run_at <= now)
                    or s.buffered_at is not None
                )
            ]
            due.sort(key=lambda s: (s.next_run_at or now, s.schedule_id))
            return [replace(s) for s in due[:limit]]

    def next_schedule_due(self) -> float | None:
        with self._lock:
            times = [
                s.next_run_at
                for s in self._schedules.values()
                if not s.paused and s.next_run_at is not None
            ]
        return min(times, default=None)

    def fire_schedule(self, fire: ScheduleFire) -> list[str] | None:
        with self._lock:
            found = self._schedules.get(fire.schedule_id)
            if found is None or found.version != fire.expected_version:
                return None
            found.version += 1
            found.updated_at = fire.updated_at
            found.next_run_at = fire.next_run_at
            found.buffered_at = fire.buffered_at
            found.last_instance_id = fire.last_instance_id
            runs = self._runs.setdefault(fire.schedule_id, {})
            created: list[str] = []
            for start in fire.starts:
                iid = start.record.instance_id
                if iid in self._instances:
                    continue
                self._instances[iid] = replace(start.record)
                self._history[iid] = []
                created.append(iid)
                runs[start.run.scheduled_at] = replace(start.run)
            for run in fire.skipped:
                runs.setdefault(run.scheduled_at, replace(run))
            self._add_messages(all_messages(fire, created))
            if len(runs) > RUNS_KEPT:
                for old in sorted(runs.values(), key=run_order)[:-RUNS_KEPT]:
                    del runs[old.scheduled_at]
        self.signal(created + [m.instance_id for m in fire.messages])
        return created

    def schedule_runs(self, schedule_id: str, limit: int) -> list[ScheduleRun]:
        with self._lock:
            runs = sorted(self._runs.get(schedule_id, {}).values(), key=run_order, reverse=True)
            out = []
            for run in runs[:limit]:
                instance = None if run.instance_id is None else self._instances.get(run.instance_id)
                out.append(replace(run, status=None if instance is None else instance.status))
            return out
