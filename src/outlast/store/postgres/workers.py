"""The PostgreSQL store's workers (mixed into ``PostgresStore``): their
registrations and leases, and their looks for work (messages, instances,
unowned activities). A look is one round trip: the fetch claims the instances
and answers the questions the worker asks right after it (see ``store.py``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from outlast.store.base import ActivityRecord, InstanceRecord, Message, QueueStats
from outlast.store.postgres import statements as sql
from outlast.store.postgres.connection import Conn, Database, Txn

Loaded = tuple[InstanceRecord, list[str]]


class Fetched(threading.local):
    """What a thread's last fetch answered beyond its messages (see ``PostgresStore``)."""

    due: tuple[str, float, float | None] | None = None  # worker, now, next visible_at
    free: tuple[str, bool] | None = None  # worker, whether unowned activities exist
    queued: tuple[str, bool] | None = None  # worker, whether queued activities exist


class PostgresWorkers:
    """What workers ask of the store, but their commits."""

    if TYPE_CHECKING:  # PostgresStore's and Store's
        _db: Database
        _fetched: Fetched
        _prefetched: dict[str, Loaded]
        _prefetch_lock: threading.Lock
        _registered: dict[str, tuple[str, int]]
        _registered_lock: threading.Lock

        def _payload(self, instance_ids: Sequence[str] | None) -> str: ...
        def _forget_fetched(self) -> None: ...
        def _forget_prefetched(self, instance_ids: Iterable[str]) -> None: ...
        def signal(
            self,
            instance_ids: Iterable[str] | None = None,
            statuses: Mapping[str, str] | None = None,
        ) -> None: ...

    def register_worker(self, worker_id: str, host: str, pid: int, expires_at: float) -> None:
        with self._registered_lock:
            self._registered[worker_id] = (host, pid)
        self._db.run("register_worker", sql.UPSERT_WORKER, (worker_id, host, pid, expires_at))

    def heartbeat(self, worker_id: str, expires_at: float) -> None:
        with self._registered_lock:
            known = self._registered.get(worker_id)
        if known is not None:
            params = (worker_id, known[0], known[1], expires_at)
            self._db.run("heartbeat", sql.UPSERT_WORKER, params)
        else:
            self._db.run("heartbeat", sql.HEARTBEAT, (expires_at, worker_id))

    def remove_worker(self, worker_id: str) -> None:
        self._forget_fetched()
        with self._registered_lock:
            self._registered.pop(worker_id, None)
        params = {"worker": worker_id, "n": self._payload(None)}
        self._db.run("remove_worker", sql.REMOVE_WORKER, params)
        self.signal()

    def reap_workers(self, now: float, is_dead: Callable[[str, int], bool]) -> int:
        rows = self._db.read(sql.LIST_WORKERS)
        expired = [w for w, _, _, exp in rows if exp < now]
        gone = [w for w, host, pid, exp in rows if exp >= now and is_dead(host, pid)]
        self._forget_fetched()
        if not expired and not gone:
            return 0
        params = {
            "candidates": expired + gone,
            "now": now,
            "dead": gone,
            "n": self._payload(None),
        }

        def body(conn: Conn, txn: Txn) -> int:
            row = sql.REAP.run(conn, params).fetchone()
            assert row is not None
            txn.xid = row[0]
            return int(row[1])

        count = self._db.transact("reap_workers", body)
        if count:
            self.signal()
        return count

    def fetch_messages(
        self, worker_id: str, now: float, limit: int, names: Collection[str] | None = None
    ) -> list[Message]:
        # One statement, outside a transaction block, and not verified: running it
        # again after a lost connection only returns the same messages of
        # instances that are now ours.
        only = None if names is None else list(names)
        params = {"now": now, "worker": worker_id, "limit": limit, "names": only}
        rows = self._db.run("fetch_messages", sql.FETCH, params)
        messages: list[Message] = []
        loaded: dict[str, Loaded] = {}
        due: float | None = None
        free = queued = True
        for r in rows:
            kind = r[0]
            if kind == 0:
                messages.append(Message(r[2], r[3], r[4], r[5], r[1]))
            elif kind == 1:
                record = InstanceRecord(
                    r[2], r[6], r[7], r[3], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]
                )
                loaded[r[2]] = (record, list(r[16]))
            else:
                due = None if r[5] is None else float(r[5])
                free, queued = bool(r[1] & 1), bool(r[1] & 2)
        with self._prefetch_lock:
            self._prefetched = loaded
        self._fetched.due = (worker_id, now, due)
        self._fetched.free = (worker_id, free)
        self._fetched.queued = (worker_id, queued)
        return messages

    def queue_stats(self, now: float) -> QueueStats:
        rows = self._db.read(
            "SELECT (SELECT COUNT(*) FROM outlast_inbox WHERE visible_at <= %s), "
            "(SELECT MIN(visible_at) FROM outlast_inbox WHERE visible_at <= %s), "
            "(SELECT COUNT(*) FROM outlast_activities)",
            (now, now),
        )
        ready, oldest, activities = rows[0]
        return QueueStats(int(ready), None if oldest is None else float(oldest), int(activities))

    def next_visible_at(self, worker_id: str, now: float) -> float | None:
        fetched = self._fetched.due
        self._fetched.due = None
        if fetched is not None and fetched[:2] == (worker_id, now):
            return fetched[2]
        rows = self._db.read(sql.NEXT_VISIBLE_AT, (now, worker_id))
        value = rows[0][0] if rows else None
        return float(value) if value is not None else None

    def load_instance(self, instance_id: str) -> Loaded | None:
        with self._prefetch_lock:
            prefetched = self._prefetched.pop(instance_id, None)
        if prefetched is not None:
            return prefetched

        def attempt(deadline: float) -> Loaded | None:
            with self._db.connection(deadline) as conn, conn.pipeline():
                record = conn.execute(sql.GET_INSTANCE, (instance_id,))
                events = conn.execute(sql.GET_HISTORY, (instance_id,))
                row = record.fetchone()
                history = [r[0] for r in events.fetchall()]
            return None if row is None else (InstanceRecord(*row), history)

        return self._db.retrying("load_instance", attempt)

    def claim_activities(
        self, worker_id: str, limit: int, names: Collection[str] | None = None
    ) -> list[ActivityRecord]:
        # Workers ask every round and the answer is nearly always "none": the fetch
        # they just made says so, or a read does, without a write transaction.
        seen = self._fetched.free
        queued = self._fetched.queued
        self._forget_fetched()
        # A claim takes no queued row: what the fetch said of queues still holds.
        self._fetched.queued = queued
        if seen is not None and seen[0] == worker_id:
            free = seen[1]
        else:
            free = bool(self._db.read(sql.ANY_FREE_ACTIVITY))
        if not free:
            return []

        def body(conn: Conn, txn: Txn) -> list[ActivityRecord]:
            only = None if names is None else list(names)
            params = {"worker": worker_id, "limit": limit, "names": only}
            rows = sql.CLAIM_ACTIVITIES.run(conn, params)
            claimed = []
            for r in rows.fetchall():
                claimed.append(ActivityRecord(r[0], r[1], r[2], r[3], r[4], worker_id, r[6], r[7]))
                txn.xid = r[5]
            return claimed

        return self._db.transact("claim_activities", body)

    def owned_activities(self, worker_id: str) -> list[ActivityRecord]:
        rows = self._db.read(sql.OWNED_ACTIVITIES, (worker_id,))
        return [ActivityRecord(*r) for r in rows]
