"""The in-memory store's writes (mixed into ``MemoryStore``): a worker's commit
batch applied all or nothing, and the admissions of activities queued behind limits."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from outlast.core.flow import Limit
from outlast.core.status import TERMINAL_STATUSES
from outlast.store import admission as adm
from outlast.store.records import ActivityRecord, CommitBatch, InstanceRecord, Message, TurnWrite


class MemoryCommits:
    _lock: threading.RLock
    _instances: dict[str, InstanceRecord]
    _history: dict[str, list[str]]
    _inbox: dict[int, Message]
    _activities: dict[tuple[str, int], ActivityRecord]
    _next_id: int
    _starts: dict[str, list[float]]

    if TYPE_CHECKING:  # MemoryStore's and Store's

        def _add_messages(self, messages: Sequence[Message]) -> None: ...
        def _delete(self, ids: Sequence[str]) -> None: ...
        def signal(
            self,
            instance_ids: Iterable[str] | None = None,
            statuses: Mapping[str, str] | None = None,
        ) -> None: ...

    def admit_activities(
        self, worker_id: str, limits: Sequence[Limit], now: float, room: int, backlog: int = 0
    ) -> list[ActivityRecord]:
        with self._lock:
            return self._admit(worker_id, limits, now, adm.Budget(room, backlog))

    def _admit(
        self, worker_id: str, limits: Sequence[Limit], now: float, budget: adm.Budget
    ) -> list[ActivityRecord]:
        admitted: list[ActivityRecord] = []
        for limit in adm.by_name(limits):
            if budget.spent:
                break
            rows = [a for a in self._activities.values() if a.name == limit.name]
            running: dict[str | None, int] = {}
            for a in rows:
                if a.owner is not None and a.queued_at is not None:
                    running[a.key] = running.get(a.key, 0) + 1
            starts = self._starts.setdefault(limit.name, [])
            if limit.rate is not None:
                edge = adm.window_start(limit, now)
                starts[:] = [t for t in starts if t > edge]
            take = budget.quota(limit, sum(running.values()), len(starts))
            queue = sorted(
                (a for a in rows if a.waiting_on_limit),
                key=lambda a: (-a.priority, a.queued_at, a.instance_id, a.task_id),
            )
            queued = (adm.Queued(a.instance_id, a.task_id, a.key) for a in queue)
            chosen = adm.choose(limit, queued, running, take)
            budget.spend(len(chosen))
            for q in chosen:
                a = self._activities[(q.instance_id, q.task_id)]
                a.owner = adm.SLOT_OWNER if q.task_id == adm.SLOT_TASK else worker_id
                admitted.append(replace(a))
                if q.task_id == adm.SLOT_TASK:  # its parked start goes on now
                    for m in self._inbox.values():
                        if m.instance_id == q.instance_id and m.visible_at > now:
                            m.visible_at = now
                if limit.rate is not None:
                    starts.append(now)
        return admitted

    def commit(self, batch: CommitBatch) -> set[str]:
        rejected: set[str] = set()
        with self._lock:
            saved = copy.deepcopy(
                (self._instances, self._history, self._inbox, self._activities, self._next_id)
            )
            try:
                self._commit(batch, rejected)
                for slot in batch.queued:
                    held = self._activities.setdefault(
                        (slot.instance_id, slot.task_id), replace(slot)
                    )
                    if held.owner is not None and slot.queued_at is not None:
                        # Admitted since the worker looked: its start goes on.
                        for m in self._inbox.values():
                            if m.instance_id == slot.instance_id:
                                m.visible_at = min(m.visible_at, slot.queued_at)
                a = batch.admission
                if a is not None:
                    batch.admitted = self._admit(
                        batch.worker_id, a.limits, a.now, adm.Budget(a.room, a.backlog)
                    )
            except BaseException:
                # All or nothing, like a rolled-back transaction.
                (
                    self._instances,
                    self._history,
                    self._inbox,
                    self._activities,
                    self._next_id,
                ) = saved
                raise
        changed = {t.instance_id: t.update.status for t in batch.turns if t.update.status_changed}
        self.signal(changed, changed)
        return rejected

    def _commit(self, batch: CommitBatch, rejected: set[str]) -> None:
        for key in batch.finished_activities:
            self._activities.pop(key, None)
        for mid in batch.dropped_messages:
            self._inbox.pop(mid, None)
        self._add_messages(batch.messages)
        for mid, at in batch.rescheduled:
            if mid in self._inbox:
                self._inbox[mid].visible_at = at
        for turn in batch.turns:
            if not self._apply_turn(batch.worker_id, turn):
                rejected.add(turn.instance_id)
                self._add_messages(turn.fallback)

    def _apply_turn(self, worker_id: str, turn: TurnWrite) -> bool:
        iid = turn.instance_id
        record = self._instances.get(iid)
        if (
            record is None
            or record.execution_id != turn.execution_id
            or record.owner not in (None, worker_id)
            or record.status in TERMINAL_STATUSES
        ):
            return False
        u = turn.update
        record.status = u.status
        record.updated_at = u.updated_at
        record.output = u.output
        record.failure = u.failure
        record.owner = None if u.release else worker_id
        if u.set_custom_status:
            record.custom_status = u.custom_status
        if u.new_execution_id is not None:
            record.execution_id = u.new_execution_id
            record.input = u.new_input
        if turn.reset_history:
            self._history[iid] = []
            for key in [k for k in self._activities if k[0] == iid]:
                del self._activities[key]
            for mid in [
                k
                for k, m in self._inbox.items()
                if m.instance_id == iid and m.execution_id is not None
            ]:
                del self._inbox[mid]
        for mid in turn.consumed:
            self._inbox.pop(mid, None)
        log = self._history.setdefault(iid, [])
        if len(log) != turn.history_start:
            raise AssertionError(
                f"history of {iid!r} out of step: {len(log)} != {turn.history_start}"
            )
        log.extend(turn.history)
        for a in turn.activities:
            self._activities[(a.instance_id, a.task_id)] = replace(a)
        for child in turn.children:
            existing = self._instances.get(child.record.instance_id)
            if existing is not None:
                if existing.status not in TERMINAL_STATUSES:
                    self._add_messages([child.on_conflict])
                    continue
                self._delete([child.record.instance_id])
            self._instances[child.record.instance_id] = replace(child.record)
            self._history[child.record.instance_id] = []
            self._add_messages([child.start])
        self._add_messages(turn.messages)
        return True
