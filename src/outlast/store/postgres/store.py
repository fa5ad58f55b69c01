"""``PostgresStore``: the Store interface over the statements of this package."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

from outlast.core.flow import Limit
from outlast.errors import InstanceAlreadyExistsError
from outlast.redaction import redact_url
from outlast.store.admission import Budget
from outlast.store.base import (
    COUNT_CAP,
    ActivityRecord,
    CommitBatch,
    InstanceCounts,
    InstanceQuery,
    InstanceRecord,
    Message,
    QueueStats,
    Store,
    refuse_existing,
    refuse_unfinished,
)
from outlast.store.postgres import counts
from outlast.store.postgres import statements as sql
from outlast.store.postgres.commit import (
    check_turns,
    commit_in_one,
    commit_in_steps,
    commit_params,
)
from outlast.store.postgres.commit_sql import shape_of
from outlast.store.postgres.connection import Conn, Database, Txn
from outlast.store.postgres.flow import Admitting, admit, any_queued_sql, queue_slots
from outlast.store.postgres.listener import Listener, payload
from outlast.store.postgres.rows import (
    activity_rows,
    dumps,
    instance_row,
    message_row,
    message_rows,
)
from outlast.store.postgres.schedules import PostgresSchedules
from outlast.store.postgres.schema import TABLES
from outlast.store.sql import list_query

Loaded = tuple[InstanceRecord, list[str]]
# How long a health probe waits for a connection and an answer.
_PROBE_SECONDS = 5.0


class _Fetched(threading.local):
    """What a thread's last fetch answered beyond its messages (see __init__)."""

    due: tuple[str, float, float | None] | None = None  # worker, now, next visible_at
    free: tuple[str, bool] | None = None  # worker, whether unowned activities exist


class PostgresStore(PostgresSchedules, Store):
    """A store in a PostgreSQL database (13 or newer), shared by any number of
    worker and client processes.

    ``url`` is a libpq URL; it may also carry ``pool_min_size`` and
    ``pool_max_size`` (the per-process connection pool; default 1 and 10). An
    operation that loses its connection is retried until ``retry_timeout``
    seconds have passed, then raises StoreError. A database that does not exist,
    or a server that refuses the connection, raises StoreError at once.
    """

    def __init__(
        self,
        url: str,
        *,
        min_size: int | None = None,
        max_size: int | None = None,
        connect_timeout: float = 10.0,
        retry_timeout: float = 60.0,
        listen: bool = True,
    ) -> None:
        super().__init__()
        self.url = url
        self._db = Database(
            url,
            min_size=min_size,
            max_size=max_size,
            connect_timeout=connect_timeout,
            retry_timeout=retry_timeout,
            io=self.io,
        )
        self._closed = False
        self._prefix_sql = counts.prefix_sql(self._db)
        # Tags this process's notifications: it wakes its own waiters directly.
        self._token = uuid.uuid4().hex
        # host and pid of the workers registered through this object, so a
        # heartbeat can put back a row another worker reaped while this one was
        # cut off (it is alive, after all, and must stay reapable).
        self._registered: dict[str, tuple[str, int]] = {}
        self._registered_lock = threading.Lock()
        # Instances the last fetch_messages claimed, read in the same statement:
        # the worker loads each of them next, and saves a round trip apiece. Only
        # the owner commits turns, so they stay current until the next fetch,
        # which replaces them.
        self._prefetched: dict[str, Loaded] = {}
        self._prefetch_lock = threading.Lock()
        # The fetch also answers the two questions the worker asks right after
        # it: when its next message is due, and whether there are unowned
        # activities to claim. Each answer serves one call, of the same thread and
        # worker (and ``now``), until that thread writes: as if the calls had
        # been made a moment earlier, which changes nothing for anybody else.
        self._fetched = _Fetched()
        self._listener: Listener | None = None
        if listen:
            try:
                self._listener = Listener(
                    self._db.conninfo, self._token, connect_timeout, self.signal
                )
            except BaseException:
                self._db.close()
                raise
        # Other processes' commits reach this one's waiters through LISTEN.
        self.signals_other_processes = self._listener is not None

    def __repr__(self) -> str:
        return f"PostgresStore({redact_url(self.url)!r})"

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._db.stop()  # first: operations retrying in other threads give up
        if self._listener is not None:
            self._listener.close()
        self._db.close()

    def probe(self) -> None:
        # Not retried: a health check must answer now, not after retry_timeout.
        self._db.ping(_PROBE_SECONDS)

    def _payload(self, instance_ids: Sequence[str] | None) -> str:
        return payload(self._token, instance_ids)

    # --- client side ------------------------------------------------------------------

    def create_instance(
        self,
        record: InstanceRecord,
        start: Message,
        *,
        history: Sequence[str] = (),
        activities: Sequence[ActivityRecord] = (),
    ) -> None:
        self._forget_fetched()
        iid = record.instance_id
        doc: dict[str, Any] = {"r": instance_row(record), "m": message_row(start)}
        if history:
            doc["h"] = list(history)
        if activities:
            doc["a"] = activity_rows(activities)
        params = {"d": dumps(doc), "n": self._payload([iid])}

        attempts = 0

        def body(conn: Conn, txn: Txn) -> None:
            nonlocal attempts
            attempts += 1
            row = sql.CREATE.run(conn, params, params["d"]).fetchone()
            assert row is not None
            txn.xid = row[0]
            if row[1]:
                return
            # The ID is taken (nothing was written): refuse, or replace a
            # finished instance, holding its row meanwhile.
            taken = sql.LOCK_STATUS.run(conn, {"id": iid}).fetchone()
            if taken is not None and attempts > 1 and taken[1] == record.execution_id:
                # This very call, run again after a lost connection, finds what
                # its earlier attempt wrote: that one committed, its answer was
                # lost. Done, not refused.
                return
            if taken is not None:
                refuse_existing(iid, taken[0])
                sql.DELETE_INSTANCES.run(conn, {"ids": [iid]})
            row = sql.CREATE.run(conn, params, params["d"]).fetchone()
            if row is None or not row[1]:
                raise InstanceAlreadyExistsError(
                    f"workflow instance {iid!r} was just created by someone else"
                )

        self._forget_prefetched([iid])
        self._db.transact("create_instance", body)
        self.signal([iid])

    def send_messages(self, messages: Sequence[Message]) -> None:
        self._forget_fetched()
        ids = [m.instance_id for m in messages]
        params = {"m": dumps(message_rows(messages)), "n": self._payload(ids)}

        def body(conn: Conn, txn: Txn) -> None:
            row = sql.SEND.run(conn, params, params["m"]).fetchone()
            assert row is not None
            txn.xid = row[0]

        self._db.transact("send_messages", body)
        self.signal(ids)

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        rows = self._db.read(sql.GET_INSTANCE, (instance_id,))
        return InstanceRecord(*rows[0]) if rows else None

    def list_instances(self, query: InstanceQuery) -> list[InstanceRecord]:
        statement, params = list_query(query, "outlast_instances", "%s", self._prefix_sql)
        return [InstanceRecord(*row) for row in self._db.read(statement, params)]

    def count_instances(self, query: InstanceQuery, cap: int = COUNT_CAP) -> InstanceCounts:
        return counts.count(self._db, query, self._prefix_sql, cap)

    def pending_activities(self, instance_id: str) -> list[ActivityRecord]:
        rows = self._db.read(sql.PENDING_ACTIVITIES, (instance_id,))
        return [ActivityRecord(*r) for r in rows]

    def get_history(self, instance_id: str) -> list[str]:
        return [r[0] for r in self._db.read(sql.GET_HISTORY, (instance_id,))]

    def purge_instances(self, instance_ids: Sequence[str]) -> int:
        self._forget_fetched()

        def body(conn: Conn, txn: Txn) -> int:
            rows = sql.LOCK_FOR_PURGE.run(conn, {"ids": list(instance_ids)}).fetchall()
            for iid, status, xid in rows:
                refuse_unfinished(iid, status)
                txn.xid = xid
            if rows:
                sql.DELETE_INSTANCES.run(conn, {"ids": [r[0] for r in rows]})
            return len(rows)

        self._forget_prefetched(instance_ids)
        return self._db.transact("purge_instances", body)

    def set_status_if(self, instance_id: str, expected: str, status: str, now: float) -> bool:
        self._forget_fetched()
        params = {
            "id": instance_id,
            "expected": expected,
            "status": status,
            "now": now,
            "n": self._payload([instance_id]),
        }

        def body(conn: Conn, txn: Txn) -> bool:
            row = sql.SET_STATUS_IF.run(conn, params).fetchone()
            assert row is not None
            txn.xid = row[0]
            return bool(row[1])

        self._forget_prefetched([instance_id])
        changed = self._db.transact("set_status_if", body)
        if changed:
            self.signal([instance_id])
        return changed

    # --- worker side ------------------------------------------------------------------

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
        free = True
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
                free = bool(r[1])
        with self._prefetch_lock:
            self._prefetched = loaded
        self._fetched.due = (worker_id, now, due)
        self._fetched.free = (worker_id, free)
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

    def _forget_fetched(self) -> None:
        """This thread writes: what it fetched may no longer be so."""
        self._fetched.due = self._fetched.free = None

    def _forget_prefetched(self, instance_ids: Iterable[str]) -> None:
        with self._prefetch_lock:
            if self._prefetched:
                for iid in instance_ids:
                    self._prefetched.pop(iid, None)

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
        self._forget_fetched()
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

    def admit_activities(
        self, worker_id: str, limits: Sequence[Limit], now: float, room: int, backlog: int = 0
    ) -> list[ActivityRecord]:
        if Budget(room, backlog).spent or not limits:
            return []
        names = [limit.name for limit in limits]
        # Most looks find no queue: a read keeps that answer off the locks.
        if not self._db.read(any_queued_sql(len(names)), names):
            return []
        self._forget_fetched()

        def body(conn: Conn, txn: Txn) -> list[ActivityRecord]:
            return admit(conn, txn, worker_id, limits, now, Budget(room, backlog))

        return self._db.transact("admit_activities", body)

    def owned_activities(self, worker_id: str) -> list[ActivityRecord]:
        rows = self._db.read(sql.OWNED_ACTIVITIES, (worker_id,))
        return [ActivityRecord(*r) for r in rows]

    def commit(self, batch: CommitBatch) -> set[str]:
        self._forget_fetched()
        check_turns(batch.turns)
        signal = bool(batch.messages) or bool(batch.turns)
        # Clients wait for status changes; workers are woken by any notification.
        touched = [t.instance_id for t in batch.turns if t.update.status_changed]
        # Other processes care about new messages and status changes, not about
        # a turn that only scheduled activities its own worker runs.
        notify = bool(
            touched
            or batch.messages
            or batch.rescheduled
            or any(t.messages or t.children or t.fallback for t in batch.turns)
        )
        params = commit_params(batch, self._payload(touched) if notify else None)
        shape = shape_of(batch)

        # The admission's statements go right after the batch's, and its updates
        # with the COMMIT: it adds no round trip of its own.
        admitting: list[Admitting] = []

        def send_admission(conn: Conn) -> None:
            admitting.clear()
            if batch.queued:
                queue_slots(conn, batch.queued)
            a = batch.admission
            if a is not None:
                budget = Budget(a.room, a.backlog)
                admitting.append(Admitting(conn, batch.worker_id, a.limits, a.now, budget))

        if not shape.in_steps:

            def body(conn: Conn, txn: Txn) -> set[str]:
                txn.xid, rejected = commit_in_one(conn, shape, params, lambda: send_admission(conn))
                for a in admitting:
                    a.choose()
                return rejected

        else:

            def body(conn: Conn, txn: Txn) -> set[str]:
                def known(xid: str) -> None:
                    txn.xid = xid

                rejected = commit_in_steps(conn, batch, params, known)
                send_admission(conn)
                for a in admitting:
                    a.choose()
                return rejected

        def collect() -> None:
            for a in admitting:
                batch.admitted = a.collect()

        self._forget_prefetched(
            [t.instance_id for t in batch.turns]
            + [c.record.instance_id for t in batch.turns for c in t.children]
        )
        rejected = self._db.transact("commit", body, then=collect)
        for a in admitting:
            if not a.collected:  # the connection broke after the COMMIT, which held
                batch.admitted = a.read_back(self._db)
        if signal:
            self.signal(touched, {t.instance_id: t.update.status for t in batch.turns})
        return rejected

    # --- for tests and operators --------------------------------------------------------

    def reset(self) -> None:
        """Delete every instance, message, activity, worker and schedule in the
        database, keeping the schema. Meant for tests."""
        self._db.run("reset", f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
