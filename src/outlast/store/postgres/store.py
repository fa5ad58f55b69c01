"""``PostgresStore``: the Store interface over the statements of this package.

The class holds the connections, the listener and what a fetch answered ahead;
its operations come by concern: clients' (``clients.py``), workers' looks for
work (``workers.py``), schedules (``schedules.py``), and here a worker's commits
and admissions."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Sequence

from outlast.core.flow import Limit
from outlast.redaction import redact_url
from outlast.store.admission import Budget
from outlast.store.base import (
    ActivityRecord,
    CommitBatch,
    Store,
)
from outlast.store.postgres import counts
from outlast.store.postgres.clients import PostgresClients
from outlast.store.postgres.commit import (
    check_turns,
    commit_in_one,
    commit_in_steps,
    commit_params,
)
from outlast.store.postgres.commit_sql import shape_of
from outlast.store.postgres.connection import Conn, Database, Txn
from outlast.store.postgres.flow import (
    ANY_QUEUED,
    Admitting,
    admit,
    queue_slots,
    queued_rows_owned,
)
from outlast.store.postgres.listener import Listener, payload
from outlast.store.postgres.schedules import PostgresSchedules
from outlast.store.postgres.schema import TABLES
from outlast.store.postgres.workers import Fetched, Loaded, PostgresWorkers

# How long a health probe waits for a connection and an answer.
_PROBE_SECONDS = 5.0


class PostgresStore(PostgresClients, PostgresWorkers, PostgresSchedules, Store):
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
        self._fetched = Fetched()
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

    def _forget_fetched(self) -> None:
        """This thread writes: what it fetched may no longer be so."""
        self._fetched.due = self._fetched.free = self._fetched.queued = None

    def _forget_prefetched(self, instance_ids: Iterable[str]) -> None:
        with self._prefetch_lock:
            if self._prefetched:
                for iid in instance_ids:
                    self._prefetched.pop(iid, None)

    # --- worker side: admissions and commits ------------------------------------------

    def admit_activities(
        self, worker_id: str, limits: Sequence[Limit], now: float, room: int, backlog: int = 0
    ) -> list[ActivityRecord]:
        if Budget(room, backlog).spent or not limits:
            return []
        names = [limit.name for limit in limits]
        # Most looks find no queue: the fetch just made says so, or a read does,
        # and keeps that answer off the locks.
        seen = self._fetched.queued
        self._forget_fetched()
        if seen is not None and seen[0] == worker_id:
            if not seen[1]:
                return []
        elif not self._db.read(ANY_QUEUED, (names,)):
            return []

        def body(conn: Conn, txn: Txn) -> list[ActivityRecord]:
            return admit(conn, txn, worker_id, limits, now, Budget(room, backlog))

        return self._db.transact("admit_activities", body)

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
                    a.choose(queued_rows_owned(batch, rejected))
                return rejected

        else:

            def body(conn: Conn, txn: Txn) -> set[str]:
                def known(xid: str) -> None:
                    txn.xid = xid

                rejected = commit_in_steps(conn, batch, params, known)
                send_admission(conn)
                for a in admitting:
                    a.choose(queued_rows_owned(batch, rejected))
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
