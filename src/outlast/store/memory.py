"""In-memory store: the same contract as the durable ones, nothing kept on disk.

For tests and throwaway runs; also the executable reading of the store contract.
``memory://`` opens a new, empty store each time; ``memory://name`` opens the
process's store of that name, shared by every runtime and client that names it,
until it is closed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace

from outlast.store.base import (
    COUNT_CAP,
    ActivityRecord,
    InstanceCounts,
    InstanceQuery,
    InstanceRecord,
    Message,
    QueueStats,
    Store,
    refuse_existing,
    refuse_unfinished,
)
from outlast.store.memory_commit import MemoryCommits
from outlast.store.memory_schedules import MemorySchedules
from outlast.store.schedules import ScheduleRecord, ScheduleRun

_named: dict[str, MemoryStore] = {}
_named_lock = threading.Lock()


class MemoryStore(MemoryCommits, MemorySchedules, Store):
    # No other process can change it: every change is signalled.
    signals_other_processes = True

    def __init__(self, name: str = "") -> None:
        super().__init__()
        self.name = name
        self.url = f"memory://{name}"
        self._lock = threading.RLock()
        self._instances: dict[str, InstanceRecord] = {}
        self._history: dict[str, list[str]] = {}
        self._inbox: dict[int, Message] = {}
        self._activities: dict[tuple[str, int], ActivityRecord] = {}
        self._workers: dict[str, tuple[str, int, float]] = {}
        self._identities: dict[str, tuple[str, int]] = {}
        self._next_id = 1
        self._schedules: dict[str, ScheduleRecord] = {}
        self._runs: dict[str, dict[float, ScheduleRun]] = {}
        self._starts: dict[str, list[float]] = {}  # rate limits' starts log, by name

    @classmethod
    def named(cls, name: str) -> MemoryStore:
        """The process's store called ``name``, created on first use and kept
        (with its data) until it is closed."""
        if not name:
            raise ValueError("a shared memory store needs a name: memory://NAME")
        with _named_lock:
            store = _named.get(name)
            if store is None:
                store = _named[name] = cls(name)
            return store

    def close(self) -> None:
        """Forget a named store: the next ``memory://name`` starts empty."""
        with _named_lock:
            if self.name and _named.get(self.name) is self:
                del _named[self.name]

    def _add_messages(self, messages: Sequence[Message]) -> None:
        for m in messages:
            self._inbox[self._next_id] = replace(m, id=self._next_id)
            self._next_id += 1

    def _delete(self, ids: Sequence[str]) -> None:
        for iid in ids:
            self._instances.pop(iid, None)
            self._history.pop(iid, None)
            for mid in [k for k, m in self._inbox.items() if m.instance_id == iid]:
                del self._inbox[mid]
            for key in [k for k in self._activities if k[0] == iid]:
                del self._activities[key]

    # --- client side ----------------------------------------------------------------

    def create_instance(
        self,
        record: InstanceRecord,
        start: Message,
        *,
        history: Sequence[str] = (),
        activities: Sequence[ActivityRecord] = (),
    ) -> None:
        with self._lock:
            existing = self._instances.get(record.instance_id)
            if existing is not None:
                refuse_existing(record.instance_id, existing.status)
                self._delete([record.instance_id])
            self._instances[record.instance_id] = replace(record)
            self._history[record.instance_id] = list(history)
            self._add_messages([start])
            for a in activities:
                self._activities[(a.instance_id, a.task_id)] = replace(a)
        self.signal([record.instance_id])

    def send_messages(self, messages: Sequence[Message]) -> None:
        with self._lock:
            self._add_messages(messages)
        self.signal([m.instance_id for m in messages])

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        with self._lock:
            record = self._instances.get(instance_id)
            return None if record is None else replace(record)

    def list_instances(self, query: InstanceQuery) -> list[InstanceRecord]:
        with self._lock:
            rows = sorted(self._instances.values(), key=lambda r: (r.created_at, r.instance_id))
        out: list[InstanceRecord] = []
        for r in rows:
            if not _matches(query, r):
                continue
            if query.after is not None and (r.created_at, r.instance_id) <= query.after:
                continue
            out.append(replace(r))
            if len(out) >= query.limit:
                break
        return out

    def count_instances(self, query: InstanceQuery, cap: int = COUNT_CAP) -> InstanceCounts:
        # Counting in memory is cheap: always exact.
        counts: dict[str, int] = {}
        with self._lock:
            for r in self._instances.values():
                if _matches(query, r):
                    counts[r.status] = counts.get(r.status, 0) + 1
        return InstanceCounts(counts)

    def pending_activities(self, instance_id: str) -> list[ActivityRecord]:
        with self._lock:
            found = [replace(a) for (iid, _), a in self._activities.items() if iid == instance_id]
        return sorted(found, key=lambda a: a.task_id)

    def get_history(self, instance_id: str) -> list[str]:
        with self._lock:
            return list(self._history.get(instance_id, []))

    def purge_instances(self, instance_ids: Sequence[str]) -> int:
        with self._lock:
            found = [i for i in instance_ids if i in self._instances]
            for iid in found:
                refuse_unfinished(iid, self._instances[iid].status)
            self._delete(found)
            return len(found)

    def set_status_if(self, instance_id: str, expected: str, status: str, now: float) -> bool:
        with self._lock:
            record = self._instances.get(instance_id)
            if record is None or record.status != expected:
                return False
            record.status = status
            record.updated_at = now
        self.signal([instance_id])
        return True

    # --- worker side ----------------------------------------------------------------

    def register_worker(self, worker_id: str, host: str, pid: int, expires_at: float) -> None:
        with self._lock:
            self._workers[worker_id] = (host, pid, expires_at)
            self._identities[worker_id] = (host, pid)

    def heartbeat(self, worker_id: str, expires_at: float) -> None:
        with self._lock:
            identity = self._identities.get(worker_id)
            if identity is not None:
                self._workers[worker_id] = (*identity, expires_at)

    def remove_worker(self, worker_id: str) -> None:
        with self._lock:
            self._release([worker_id])
        self.signal()

    def _release(self, worker_ids: Sequence[str]) -> None:
        gone = set(worker_ids)
        for w in gone:
            self._workers.pop(w, None)
        for r in self._instances.values():
            if r.owner in gone:
                r.owner = None
        for a in self._activities.values():
            if a.owner in gone:
                a.owner = None
                a.attempt += 1  # the attempt the worker held counts

    def reap_workers(self, now: float, is_dead: Callable[[str, int], bool]) -> int:
        with self._lock:
            dead = [
                w
                for w, (host, pid, exp) in self._workers.items()
                if exp < now or is_dead(host, pid)
            ]
            self._release(dead)
        if dead:
            self.signal()
        return len(dead)

    def _claimable(self, worker_id: str, m: Message, names: Collection[str] | None = None) -> bool:
        r = self._instances.get(m.instance_id)
        return (
            r is not None
            and r.owner in (None, worker_id)
            and r.status != "STALLED"
            and (names is None or r.owner == worker_id or r.name in names)
        )

    def fetch_messages(
        self, worker_id: str, now: float, limit: int, names: Collection[str] | None = None
    ) -> list[Message]:
        with self._lock:
            ready = [
                m
                for m in self._inbox.values()
                if m.visible_at <= now and self._claimable(worker_id, m, names)
            ]
        ready.sort(key=lambda m: (m.visible_at, m.id))
        return [replace(m) for m in ready[:limit]]

    def next_visible_at(self, worker_id: str, now: float) -> float | None:
        with self._lock:
            times = [
                m.visible_at
                for m in self._inbox.values()
                if m.visible_at > now and self._claimable(worker_id, m)
            ]
        return min(times, default=None)

    def queue_stats(self, now: float) -> QueueStats:
        with self._lock:
            ready = [m.visible_at for m in self._inbox.values() if m.visible_at <= now]
            return QueueStats(len(ready), min(ready, default=None), len(self._activities))

    def load_instance(self, instance_id: str) -> tuple[InstanceRecord, list[str]] | None:
        with self._lock:
            record = self._instances.get(instance_id)
            if record is None:
                return None
            return replace(record), list(self._history.get(instance_id, []))

    def claim_activities(
        self, worker_id: str, limit: int, names: Collection[str] | None = None
    ) -> list[ActivityRecord]:
        with self._lock:
            out: list[ActivityRecord] = []
            for a in self._activities.values():
                if (
                    a.owner is None
                    and a.queued_at is None
                    and len(out) < limit
                    and (names is None or a.name in names)
                ):
                    a.owner = worker_id
                    out.append(replace(a))
            return out

    def owned_activities(self, worker_id: str) -> list[ActivityRecord]:
        with self._lock:
            return [replace(a) for a in self._activities.values() if a.owner == worker_id]


def _matches(query: InstanceQuery, r: InstanceRecord) -> bool:
    """Whether ``r`` passes ``query``'s filters (its cursor aside)."""
    return not (
        (query.statuses and r.status not in query.statuses)
        or (query.name is not None and r.name != query.name)
        or (query.created_after is not None and r.created_at < query.created_after)
        or (query.created_before is not None and r.created_at >= query.created_before)
        or (
            query.parent_instance_id is not None
            and r.parent_instance_id != query.parent_instance_id
        )
        or (query.updated_before is not None and r.updated_at >= query.updated_before)
        or (query.instance_id_prefix and not r.instance_id.startswith(query.instance_id_prefix))
    )
