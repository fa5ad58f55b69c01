"""PostgreSQL store: many worker processes, on many machines, share one database.

Same records and the same contract as the SQLite store; what PostgreSQL changes:

Claiming work. ``fetch_messages`` claims the instances whose messages it returns
in one short transaction: it locks their rows ``FOR UPDATE SKIP LOCKED`` and sets
``owner`` on the unowned ones. Two workers polling at once therefore split the
ready instances between them instead of both replaying the same one and throwing
one turn away; an instance another fetch is claiming right now is skipped, not
waited for. The claim commits with ``synchronous_commit = off``: a claim lost in a
server crash only means the instance is unowned again. What keeps two workers
from committing turns of one instance is still the conditional ``UPDATE`` in
``commit`` (``owner IS NULL OR owner = me``), exactly as on SQLite; the claim only
makes that check fail less often. Ownership lasts until the instance finishes or
its worker's lease in ``outlast_workers`` expires and another worker reaps it.

Claimed instances are read (record and history) in that same transaction and
handed to the ``load_instance`` call the worker makes next, saving a round trip
per new instance.

Group commit. One ``commit`` is one transaction in pipeline mode, a statement per
table rather than per row (arrays through ``unnest``): the instance rows of all
turns are locked in instance-ID order (two batches never wait on each other in a
cycle) and updated conditionally in one round trip; all the writes of the
accepted turns and the ``COMMIT`` go in a second. There is no SAVEPOINT per turn:
a rejected turn has written nothing, because its conditional ``UPDATE`` is the
first statement that touches its instance, and hundreds of subtransactions a batch
would overflow PostgreSQL's per-backend subtransaction cache, which slows every
snapshot on the server. An error in any statement (such as a history sequence
number that is already taken) rolls the whole batch back, as on SQLite.

Wake-ups. Transactions that insert messages or apply turns ``NOTIFY`` one channel
with the IDs of the instances whose status changed; a listener thread with its own
connection turns notifications from other processes into ``signal(ids)``, so
workers and the clients waiting on those instances wake at once instead of
polling. It reconnects with backoff and signals everyone once after reconnecting,
in case it missed something while it was away.

Reconnecting. Connections come from a psycopg pool. An operation that loses its
connection (server restart, failover) is retried on a fresh one until
``retry_timeout``. A write whose connection is lost while its ``COMMIT`` is in
flight is not retried blindly: the store asks the server whether that
transaction committed (``pg_xact_status``), so a batch is never applied twice
and never reported failed when it was applied.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import psycopg_pool
from psycopg import Connection, Cursor, Pipeline
from psycopg.pq import TransactionStatus

from ..errors import InstanceAlreadyExistsError, StoreError
from .base import (
    ActivityRecord,
    CommitBatch,
    InstanceQuery,
    InstanceRecord,
    Message,
    Store,
    TurnWrite,
    refuse_existing,
    refuse_unfinished,
)
from .sql import INSTANCE_COLUMNS, TERMINAL_SQL, list_query

log = logging.getLogger("outlast.store.postgres")

T = TypeVar("T")
Conn = Connection[Any]

CHANNEL = "outlast_changes"
# Serializes migrations of concurrently starting processes ("outlast" in ASCII).
_MIGRATION_LOCK = 0x6F75746C617374

_SCHEMA_V1 = """
CREATE TABLE outlast_instances (
    instance_id text PRIMARY KEY,
    name text NOT NULL,
    status text NOT NULL,
    execution_id text NOT NULL,
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL,
    input text,
    output text,
    custom_status text,
    failure text,
    parent_instance_id text,
    owner text
);
CREATE INDEX outlast_instances_created ON outlast_instances (created_at, instance_id);
CREATE INDEX outlast_instances_status ON outlast_instances (status, created_at, instance_id);
CREATE INDEX outlast_instances_status_updated ON outlast_instances (status, updated_at);
CREATE INDEX outlast_instances_name ON outlast_instances (name, created_at, instance_id);
CREATE INDEX outlast_instances_parent ON outlast_instances (parent_instance_id)
    WHERE parent_instance_id IS NOT NULL;
CREATE INDEX outlast_instances_owner ON outlast_instances (owner) WHERE owner IS NOT NULL;
CREATE TABLE outlast_history (
    instance_id text NOT NULL,
    seq integer NOT NULL,
    event text NOT NULL,
    PRIMARY KEY (instance_id, seq)
);
CREATE TABLE outlast_inbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance_id text NOT NULL,
    execution_id text,
    event text NOT NULL,
    visible_at double precision NOT NULL
);
CREATE INDEX outlast_inbox_visible ON outlast_inbox (visible_at, id);
CREATE INDEX outlast_inbox_instance ON outlast_inbox (instance_id);
CREATE TABLE outlast_activities (
    instance_id text NOT NULL,
    task_id integer NOT NULL,
    execution_id text NOT NULL,
    name text NOT NULL,
    input text,
    owner text,
    PRIMARY KEY (instance_id, task_id)
);
CREATE INDEX outlast_activities_owner ON outlast_activities (owner);
CREATE TABLE outlast_workers (
    worker_id text PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    expires_at double precision NOT NULL
);
"""

# Each entry upgrades the schema by one version; never edit a released entry.
MIGRATIONS: list[str] = [_SCHEMA_V1]

_TABLES = (
    "outlast_instances",
    "outlast_history",
    "outlast_inbox",
    "outlast_activities",
    "outlast_workers",
)

_INSERT_INSTANCE = (
    f"INSERT INTO outlast_instances ({INSTANCE_COLUMNS}) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_INSERT_MESSAGE = (
    "INSERT INTO outlast_inbox (instance_id, execution_id, event, visible_at) "
    "VALUES (%s, %s, %s, %s)"
)
_UPDATE_TURNS = f"""
UPDATE outlast_instances i SET status = u.status, updated_at = u.updated_at,
    output = u.output, failure = u.failure, execution_id = u.next_execution, owner = u.owner,
    custom_status = CASE WHEN u.set_custom_status THEN u.custom_status
        ELSE i.custom_status END,
    input = CASE WHEN u.set_input THEN u.input ELSE i.input END
FROM unnest(%s::text[], %s::text[], %s::text[], %s::float8[], %s::text[], %s::text[],
    %s::text[], %s::text[], %s::boolean[], %s::text[], %s::boolean[], %s::text[])
    AS u(instance_id, execution_id, status, updated_at, output, failure, next_execution,
        owner, set_custom_status, custom_status, set_input, input)
WHERE i.instance_id = u.instance_id AND i.execution_id = u.execution_id
    AND (i.owner IS NULL OR i.owner = %s) AND i.status NOT IN {TERMINAL_SQL}
RETURNING i.instance_id
"""
_FETCH = f"""
WITH ready AS (
    SELECT m.id, m.instance_id, m.execution_id, m.event, m.visible_at, i.owner, i.status
    FROM outlast_inbox m JOIN outlast_instances i ON i.instance_id = m.instance_id
    WHERE m.visible_at <= %(now)s AND (i.owner IS NULL OR i.owner = %(worker)s)
        AND i.status <> 'STALLED'
    ORDER BY m.visible_at, m.id
    LIMIT %(limit)s
    FOR UPDATE OF i SKIP LOCKED
), claimed AS (
    UPDATE outlast_instances SET owner = %(worker)s
    WHERE instance_id IN (
        SELECT instance_id FROM ready
        WHERE owner IS NULL AND status NOT IN {TERMINAL_SQL}
    )
    RETURNING instance_id
)
SELECT r.instance_id, r.execution_id, r.event, r.visible_at, r.id, c.instance_id IS NOT NULL
FROM ready r LEFT JOIN claimed c ON c.instance_id = r.instance_id
ORDER BY r.visible_at, r.id
"""
_CLAIM_ACTIVITIES = """
UPDATE outlast_activities a SET owner = %(worker)s
FROM (
    SELECT instance_id, task_id FROM outlast_activities
    WHERE owner IS NULL
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
) free
WHERE a.instance_id = free.instance_id AND a.task_id = free.task_id AND a.owner IS NULL
RETURNING a.instance_id, a.execution_id, a.task_id, a.name, a.input
"""
_REAP = """
WITH gone AS (
    DELETE FROM outlast_workers
    WHERE worker_id = ANY(%(candidates)s)
        AND (expires_at < %(now)s OR worker_id = ANY(%(dead)s))
    RETURNING worker_id
), instances AS (
    UPDATE outlast_instances SET owner = NULL WHERE owner IN (SELECT worker_id FROM gone)
), activities AS (
    UPDATE outlast_activities SET owner = NULL WHERE owner IN (SELECT worker_id FROM gone)
)
SELECT count(*) FROM gone
"""

# SQLSTATEs after which the connection is gone: admin shutdown, crash shutdown,
# "the database system is starting up / shutting down".
_SHUTDOWN_STATES = frozenset({"57P01", "57P02", "57P03"})
# The transaction was rolled back by the server and can simply run again.
_RETRY_STATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock
# Libpq parameters a URL may carry that are outlast's, not the server's.
_POOL_PARAMS = ("pool_min_size", "pool_max_size")
_LISTEN_PING_SECONDS = 30.0
# PostgreSQL caps a notification at 8000 bytes; longer lists become "everything".
_MAX_PAYLOAD = 7000


class PostgresStore(Store):
    """A store in a PostgreSQL database (13 or newer), shared by any number of
    worker and client processes.

    ``url`` is a libpq URL; it may also carry ``pool_min_size`` and
    ``pool_max_size`` (the per-process connection pool; default 1 and 10). An
    operation that loses its connection is retried until ``retry_timeout``
    seconds have passed, then raises StoreError.
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
        conninfo, options = _split_url(url)
        self._conninfo = conninfo
        min_size = min_size if min_size is not None else int(options.get("pool_min_size", 1))
        max_size = max_size if max_size is not None else int(options.get("pool_max_size", 10))
        if min_size < 0 or max_size < max(1, min_size):
            raise ValueError("need 0 <= pool_min_size <= pool_max_size and pool_max_size >= 1")
        self._retry_timeout = retry_timeout
        self._connect_timeout = connect_timeout
        # Tags this process's notifications: it wakes its own waiters directly.
        self._token = uuid.uuid4().hex
        self._closing = threading.Event()
        self._closed = False
        # host and pid of the workers registered through this object, so a
        # heartbeat can put back a row another worker reaped while this one was
        # cut off (it is alive, after all, and must stay reapable).
        self._registered: dict[str, tuple[str, int]] = {}
        self._registered_lock = threading.Lock()
        # Instances the last fetch_messages claimed, read in the same transaction:
        # the worker loads each of them next, and saves a round trip apiece. Only
        # the owner commits turns, so they stay current until the next fetch,
        # which replaces them.
        self._prefetched: dict[str, tuple[InstanceRecord, list[str]]] = {}
        self._prefetch_lock = threading.Lock()
        self._pool: psycopg_pool.ConnectionPool[Conn] = psycopg_pool.ConnectionPool(
            conninfo,
            kwargs={"autocommit": True},
            min_size=min_size,
            max_size=max_size,
            open=False,
            name="outlast-pg-pool",
            timeout=connect_timeout,
            reconnect_timeout=max(retry_timeout, 60.0),
        )
        try:
            self._pool.open(wait=min_size > 0, timeout=connect_timeout)
            self._migrate()
        except BaseException as e:
            self._pool.close()
            if isinstance(e, psycopg.Error):
                raise StoreError(f"cannot open PostgreSQL store {_redact(url)}: {e}") from e
            raise
        self._wake_r, self._wake_w = socket.socketpair()
        self._listener: threading.Thread | None = None
        if listen:
            self._listener = threading.Thread(
                target=self._listen, name="outlast-pg-listener", daemon=True
            )
            self._listener.start()

    def __repr__(self) -> str:
        return f"PostgresStore({_redact(self.url)!r})"

    # --- connections, transactions and retries ----------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._closing.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._listener is not None:
            self._listener.join()
        self._wake_r.close()
        self._wake_w.close()
        self._pool.close()

    @contextmanager
    def _connection(self, deadline: float) -> Iterator[Conn]:
        if self._closed:
            raise StoreError("the store is closed")
        timeout = max(0.1, deadline - time.monotonic())
        with self._pool.connection(timeout=timeout) as conn:
            yield conn

    def _read(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        def attempt(deadline: float) -> list[Any]:
            with self._connection(deadline) as conn:
                return conn.execute(sql, params).fetchall()

        return self._retrying("read", attempt)

    def _transact(
        self,
        what: str,
        body: Callable[[Conn, Pipeline], T],
        *,
        verify: bool = True,
        durable: bool = True,
    ) -> T:
        """Run ``body`` in one transaction, in pipeline mode. ``verify``: if the
        connection breaks during COMMIT, ask the server what became of it rather
        than running the body again (bodies that are not idempotent need this)."""

        def attempt(deadline: float) -> T:
            with self._connection(deadline) as conn:
                xid: str | None = None
                commit_sent = False
                try:
                    with conn.pipeline() as pipeline:
                        conn.execute("BEGIN")
                        if not durable:
                            conn.execute("SET LOCAL synchronous_commit = off")
                        xid_cur = (
                            conn.execute("SELECT pg_current_xact_id()::text") if verify else None
                        )
                        result = body(conn, pipeline)
                        if xid_cur is not None:
                            xid = _one(xid_cur)
                        conn.execute("COMMIT")
                        commit_sent = True
                    return result
                except psycopg.Error as e:
                    _rollback_quietly(conn)
                    if commit_sent and _connection_lost(e, conn):
                        if xid is None:
                            raise  # idempotent: running it again is harmless
                        if self._committed(xid, deadline, e):
                            return result
                        raise _Retry(e) from e
                    raise
                except BaseException:
                    _rollback_quietly(conn)
                    raise

        return self._retrying(what, attempt)

    def _retrying(self, what: str, attempt: Callable[[float], T]) -> T:
        deadline = time.monotonic() + self._retry_timeout
        delay = 0.02
        checked = False
        while True:
            try:
                return attempt(deadline)
            except (psycopg.Error, _Retry) as e:
                cause = e.cause if isinstance(e, _Retry) else e
                retry = isinstance(e, _Retry) or _transient(cause)
                if not retry or self._closed or time.monotonic() + delay > deadline:
                    raise StoreError(f"PostgreSQL {what} failed: {cause}") from cause
                log.info("PostgreSQL %s failed (%s); retrying", what, cause)
                if not checked and _state(cause) not in _RETRY_STATES:
                    # The other pooled connections probably died with this one:
                    # weed them out now rather than failing on each in turn.
                    checked = True
                    with contextlib.suppress(Exception):
                        self._pool.check()
                if self._closing.wait(delay):
                    raise StoreError(f"PostgreSQL {what} failed: the store is closed") from cause
                delay = min(delay * 2, 1.0)

    def _committed(self, xid: str, deadline: float, cause: psycopg.Error) -> bool:
        """Whether transaction ``xid``, whose COMMIT got no answer, committed."""
        delay = 0.05
        while True:
            try:
                with self._connection(deadline) as conn:
                    status = _one(conn.execute("SELECT pg_xact_status(%s::xid8)", (xid,)))
            except psycopg.Error as e:
                if not _transient(e):
                    raise
                status = "unreachable"
            if status == "committed":
                return True
            if status == "aborted":
                return False
            if status is None or time.monotonic() + delay > deadline or self._closed:
                raise StoreError(
                    f"lost the connection while committing; whether transaction {xid} "
                    f"committed is unknown ({status})"
                ) from cause
            # 'in progress': the old backend has not noticed its client left yet.
            self._closing.wait(delay)
            delay = min(delay * 2, 1.0)

    def _migrate(self) -> None:
        with self._pool.connection(timeout=self._connect_timeout) as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS outlast_schema ("
                "one boolean PRIMARY KEY DEFAULT true CHECK (one), version integer NOT NULL)"
            )
            row = conn.execute("SELECT version FROM outlast_schema").fetchone()
            version = 0 if row is None else int(row[0])
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"the database has outlast schema version {version}, newer than this "
                    f"outlast understands ({len(MIGRATIONS)}); upgrade outlast"
                )
            for script in MIGRATIONS[version:]:
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            if version < len(MIGRATIONS):
                conn.execute(
                    "INSERT INTO outlast_schema (one, version) VALUES (true, %s) "
                    "ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version",
                    (len(MIGRATIONS),),
                )

    def _notify(self, conn: Conn, instance_ids: Sequence[str] | None) -> None:
        """Tell other processes about this transaction once it commits, and which
        instances it touched (None: maybe any), so their clients waiting on other
        instances sleep on."""
        touched = "*" if instance_ids is None else ",".join(dict.fromkeys(instance_ids))
        if len(touched) > _MAX_PAYLOAD:
            touched = "*"
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{self._token}|{touched}"))

    # --- the listener -----------------------------------------------------------------

    def _listen(self) -> None:
        delay = 0.05
        connected_before = False
        while not self._closing.is_set():
            try:
                conn = psycopg.connect(
                    self._conninfo,
                    autocommit=True,
                    connect_timeout=max(1, round(self._connect_timeout)),
                    keepalives=1,
                    keepalives_idle=10,
                    keepalives_interval=5,
                    keepalives_count=3,
                )
            except psycopg.Error as e:
                log.debug("LISTEN connection failed: %s", e)
                self._closing.wait(delay)
                delay = min(delay * 2, 5.0)
                continue
            try:
                with conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    delay = 0.05
                    if connected_before:
                        self.signal()  # commits we were not told about while away
                    connected_before = True
                    self._pump(conn)
            except Exception as e:  # the thread must outlive anything a server does
                if not self._closing.is_set():
                    log.warning("lost the LISTEN connection (%s); reconnecting", e)
                    self._closing.wait(delay)
                    delay = min(delay * 2, 5.0)

    def _pump(self, conn: Conn) -> None:
        sock = conn.pgconn.socket
        while True:
            # Drained before waiting: notifications that arrived with a query's
            # reply are already read off the socket.
            self._deliver(conn.notifies(timeout=0))
            ready, _, _ = select.select([sock, self._wake_r.fileno()], [], [], _LISTEN_PING_SECONDS)
            if self._closing.is_set():
                return
            if not ready:
                conn.execute("SELECT 1")  # a dead server shows itself here

    def _deliver(self, notifies: Iterable[psycopg.Notify]) -> None:
        touched: set[str] | None = set()
        woken = False
        for n in notifies:
            token, _, ids = n.payload.partition("|")
            if token == self._token:
                continue  # ours: signalled when it committed
            woken = True
            if ids == "*":
                touched = None
            elif touched is not None and ids:
                touched.update(ids.split(","))
        if woken:
            self.signal(touched)

    # --- client side ------------------------------------------------------------------

    def create_instance(
        self,
        record: InstanceRecord,
        start: Message,
        *,
        history: Sequence[str] = (),
        activities: Sequence[ActivityRecord] = (),
    ) -> None:
        def body(conn: Conn, pipeline: Pipeline) -> None:
            iid = record.instance_id
            row = conn.execute(
                "SELECT status FROM outlast_instances WHERE instance_id = %s FOR UPDATE", (iid,)
            ).fetchone()
            if row is not None:
                refuse_existing(iid, row[0])
                _delete_instances(conn, [iid])
            inserted = conn.execute(
                _INSERT_INSTANCE + " ON CONFLICT (instance_id) DO NOTHING RETURNING 1",
                _instance_row(record),
            )
            if inserted.fetchone() is None:
                raise InstanceAlreadyExistsError(
                    f"workflow instance {iid!r} was just created by someone else"
                )
            _insert_messages(conn, [start])
            _insert_history(conn, [(iid, n, event) for n, event in enumerate(history)])
            _insert_activities(conn, activities)
            self._notify(conn, [iid])

        self._forget_prefetched([record.instance_id])
        self._transact("create_instance", body)
        self.signal([record.instance_id])

    def send_messages(self, messages: Sequence[Message]) -> None:
        def body(conn: Conn, pipeline: Pipeline) -> None:
            _insert_messages(conn, messages)
            self._notify(conn, [m.instance_id for m in messages])

        self._transact("send_messages", body)
        self.signal([m.instance_id for m in messages])

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        rows = self._read(
            f"SELECT {INSTANCE_COLUMNS} FROM outlast_instances WHERE instance_id = %s",
            (instance_id,),
        )
        return InstanceRecord(*rows[0]) if rows else None

    def list_instances(self, query: InstanceQuery) -> list[InstanceRecord]:
        sql, params = list_query(query, "outlast_instances", "%s")
        return [InstanceRecord(*row) for row in self._read(sql, params)]

    def get_history(self, instance_id: str) -> list[str]:
        rows = self._read(
            "SELECT event FROM outlast_history WHERE instance_id = %s ORDER BY seq",
            (instance_id,),
        )
        return [r[0] for r in rows]

    def purge_instances(self, instance_ids: Sequence[str]) -> int:
        def body(conn: Conn, pipeline: Pipeline) -> int:
            rows = conn.execute(
                "SELECT instance_id, status FROM outlast_instances "
                "WHERE instance_id = ANY(%s) ORDER BY instance_id FOR UPDATE",
                (list(instance_ids),),
            ).fetchall()
            for iid, status in rows:
                refuse_unfinished(iid, status)
            _delete_instances(conn, [r[0] for r in rows])
            return len(rows)

        self._forget_prefetched(instance_ids)
        return self._transact("purge_instances", body)

    def set_status_if(self, instance_id: str, expected: str, status: str, now: float) -> bool:
        def body(conn: Conn, pipeline: Pipeline) -> bool:
            cur = conn.execute(
                "UPDATE outlast_instances SET status = %s, updated_at = %s "
                "WHERE instance_id = %s AND status = %s RETURNING 1",
                (status, now, instance_id, expected),
            )
            changed = cur.fetchone() is not None
            if changed:
                self._notify(conn, [instance_id])
            return changed

        self._forget_prefetched([instance_id])
        changed = self._transact("set_status_if", body)
        if changed:
            self.signal([instance_id])
        return changed

    # --- worker side ------------------------------------------------------------------

    def register_worker(self, worker_id: str, host: str, pid: int, expires_at: float) -> None:
        with self._registered_lock:
            self._registered[worker_id] = (host, pid)
        self._upsert_worker(worker_id, host, pid, expires_at)

    def _upsert_worker(self, worker_id: str, host: str, pid: int, expires_at: float) -> None:
        def body(conn: Conn, pipeline: Pipeline) -> None:
            conn.execute(
                "INSERT INTO outlast_workers (worker_id, host, pid, expires_at) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (worker_id) DO UPDATE SET "
                "host = EXCLUDED.host, pid = EXCLUDED.pid, expires_at = EXCLUDED.expires_at",
                (worker_id, host, pid, expires_at),
            )

        self._transact("register_worker", body, verify=False)

    def heartbeat(self, worker_id: str, expires_at: float) -> None:
        with self._registered_lock:
            known = self._registered.get(worker_id)
        if known is not None:
            self._upsert_worker(worker_id, known[0], known[1], expires_at)
            return

        def body(conn: Conn, pipeline: Pipeline) -> None:
            conn.execute(
                "UPDATE outlast_workers SET expires_at = %s WHERE worker_id = %s",
                (expires_at, worker_id),
            )

        self._transact("heartbeat", body, verify=False)

    def remove_worker(self, worker_id: str) -> None:
        with self._registered_lock:
            self._registered.pop(worker_id, None)

        def body(conn: Conn, pipeline: Pipeline) -> None:
            self._release(conn, [worker_id])
            self._notify(conn, None)

        self._transact("remove_worker", body, verify=False)
        self.signal()

    @staticmethod
    def _release(conn: Conn, worker_ids: list[str]) -> None:
        conn.execute("DELETE FROM outlast_workers WHERE worker_id = ANY(%s)", (worker_ids,))
        conn.execute(
            "UPDATE outlast_instances SET owner = NULL WHERE owner = ANY(%s)", (worker_ids,)
        )
        conn.execute(
            "UPDATE outlast_activities SET owner = NULL WHERE owner = ANY(%s)", (worker_ids,)
        )

    def reap_workers(self, now: float, is_dead: Callable[[str, int], bool]) -> int:
        rows = self._read("SELECT worker_id, host, pid, expires_at FROM outlast_workers")
        expired = [w for w, _, _, exp in rows if exp < now]
        gone = [w for w, host, pid, exp in rows if exp >= now and is_dead(host, pid)]
        if not expired and not gone:
            return 0

        def body(conn: Conn, pipeline: Pipeline) -> int:
            # Deleting only rows that are still expired (or dead) makes a worker
            # that heartbeat a moment ago, and a concurrent reaper, safe.
            params = {"candidates": expired + gone, "now": now, "dead": gone}
            count = int(_one(conn.execute(_REAP, params)))
            if count:
                self._notify(conn, None)
            return count

        count = self._transact("reap_workers", body)
        if count:
            self.signal()
        return count

    def fetch_messages(self, worker_id: str, now: float, limit: int) -> list[Message]:
        def body(
            conn: Conn, pipeline: Pipeline
        ) -> tuple[list[Message], dict[str, tuple[InstanceRecord, list[str]]]]:
            cur = conn.execute(_FETCH, {"now": now, "worker": worker_id, "limit": limit})
            rows = cur.fetchall()
            claimed = sorted({r[0] for r in rows if r[5]})
            return [Message(*r[:5]) for r in rows], _load(conn, claimed)

        # Not verified: fetching again after an unanswered COMMIT only returns
        # the same messages of instances that are now ours.
        messages, loaded = self._transact("fetch_messages", body, verify=False, durable=False)
        with self._prefetch_lock:
            self._prefetched = loaded
        return messages

    def next_visible_at(self, worker_id: str, now: float) -> float | None:
        rows = self._read(
            "SELECT min(m.visible_at) FROM outlast_inbox m "
            "JOIN outlast_instances i ON i.instance_id = m.instance_id "
            "WHERE m.visible_at > %s AND (i.owner IS NULL OR i.owner = %s)",
            (now, worker_id),
        )
        value = rows[0][0] if rows else None
        return float(value) if value is not None else None

    def _forget_prefetched(self, instance_ids: Iterable[str]) -> None:
        with self._prefetch_lock:
            if self._prefetched:
                for iid in instance_ids:
                    self._prefetched.pop(iid, None)

    def load_instance(self, instance_id: str) -> tuple[InstanceRecord, list[str]] | None:
        with self._prefetch_lock:
            prefetched = self._prefetched.pop(instance_id, None)
        if prefetched is not None:
            return prefetched

        def attempt(deadline: float) -> tuple[InstanceRecord, list[str]] | None:
            with self._connection(deadline) as conn, conn.pipeline():
                record = conn.execute(
                    f"SELECT {INSTANCE_COLUMNS} FROM outlast_instances WHERE instance_id = %s",
                    (instance_id,),
                )
                events = conn.execute(
                    "SELECT event FROM outlast_history WHERE instance_id = %s ORDER BY seq",
                    (instance_id,),
                )
                row = record.fetchone()
                history = [r[0] for r in events.fetchall()]
            return None if row is None else (InstanceRecord(*row), history)

        return self._retrying("load_instance", attempt)

    def claim_activities(self, worker_id: str, limit: int) -> list[ActivityRecord]:
        # Workers ask every round and the answer is nearly always "none": a read
        # says so without a write transaction and its commit record.
        if not self._read("SELECT 1 FROM outlast_activities WHERE owner IS NULL LIMIT 1"):
            return []

        def body(conn: Conn, pipeline: Pipeline) -> list[ActivityRecord]:
            cur = conn.execute(_CLAIM_ACTIVITIES, {"worker": worker_id, "limit": limit})
            return [ActivityRecord(r[0], r[1], r[2], r[3], r[4], worker_id) for r in cur.fetchall()]

        return self._transact("claim_activities", body)

    def commit(self, batch: CommitBatch) -> set[str]:
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

        def body(conn: Conn, pipeline: Pipeline) -> set[str]:
            if batch.finished_activities:
                conn.execute(
                    "DELETE FROM outlast_activities a USING unnest(%s::text[], %s::integer[]) "
                    "AS f(instance_id, task_id) "
                    "WHERE a.instance_id = f.instance_id AND a.task_id = f.task_id",
                    _columns(sorted(batch.finished_activities), 2),
                )
            if batch.dropped_messages:
                conn.execute(
                    "DELETE FROM outlast_inbox WHERE id = ANY(%s)",
                    (sorted(batch.dropped_messages),),
                )
            _insert_messages(conn, batch.messages)
            if batch.rescheduled:
                conn.execute(
                    "UPDATE outlast_inbox m SET visible_at = r.at "
                    "FROM unnest(%s::bigint[], %s::float8[]) AS r(id, at) WHERE m.id = r.id",
                    _columns(sorted(batch.rescheduled), 2),
                )
            accepted = _update_turns(conn, batch.worker_id, batch.turns)
            _write_turns(conn, [t for t, ok in zip(batch.turns, accepted, strict=True) if ok])
            messages: list[Message] = []
            for turn, ok in zip(batch.turns, accepted, strict=True):
                if ok:
                    messages.extend(_create_children(conn, turn))
                    messages.extend(turn.messages)
                else:
                    messages.extend(turn.fallback)
            _insert_messages(conn, messages)
            if notify:
                self._notify(conn, touched)
            return {t.instance_id for t, ok in zip(batch.turns, accepted, strict=True) if not ok}

        self._forget_prefetched(
            [t.instance_id for t in batch.turns]
            + [c.record.instance_id for t in batch.turns for c in t.children]
        )
        rejected = self._transact("commit", body)
        if signal:
            self.signal(touched)
        return rejected

    # --- for tests and operators --------------------------------------------------------

    def reset(self) -> None:
        """Delete every instance, message, activity and worker in the database, keeping
        the schema. Meant for tests."""

        def body(conn: Conn, pipeline: Pipeline) -> None:
            conn.execute(f"TRUNCATE {', '.join(_TABLES)} RESTART IDENTITY")

        self._transact("reset", body, verify=False)


class _Retry(Exception):
    """Run the operation again: its transaction was rolled back."""

    def __init__(self, cause: psycopg.Error) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _update_turns(conn: Conn, worker_id: str, turns: list[TurnWrite]) -> list[bool]:
    """The conditional UPDATE of every turn, as one statement; which were applied."""
    if not turns:
        return []
    ids = [t.instance_id for t in turns]
    if len(set(ids)) != len(ids):
        raise ValueError("a batch carries at most one turn per instance")
    # Row locks taken in one global order first: two batches touching the same
    # instances (a takeover race) wait for each other instead of deadlocking.
    conn.execute(
        "SELECT 1 FROM outlast_instances WHERE instance_id = ANY(%s) "
        "ORDER BY instance_id FOR UPDATE",
        (sorted(ids),),
    )
    rows = [
        (
            t.instance_id,
            t.execution_id,
            t.update.status,
            t.update.updated_at,
            t.update.output,
            t.update.failure,
            t.update.new_execution_id or t.execution_id,
            None if t.update.release else worker_id,
            t.update.set_custom_status,
            t.update.custom_status,
            t.update.new_execution_id is not None,
            t.update.new_input,
        )
        for t in turns
    ]
    cur = conn.execute(_UPDATE_TURNS, [*_columns(rows, 12), worker_id])
    applied = {r[0] for r in cur.fetchall()}
    return [t.instance_id in applied for t in turns]


def _write_turns(conn: Conn, turns: list[TurnWrite]) -> None:
    """Everything accepted turns write to their own instances, a statement a table."""
    reset = [t.instance_id for t in turns if t.reset_history]
    if reset:
        conn.execute("DELETE FROM outlast_history WHERE instance_id = ANY(%s)", (reset,))
        conn.execute("DELETE FROM outlast_activities WHERE instance_id = ANY(%s)", (reset,))
        conn.execute(
            "DELETE FROM outlast_inbox WHERE instance_id = ANY(%s) AND execution_id IS NOT NULL",
            (reset,),
        )
    consumed = sorted(i for t in turns for i in t.consumed)
    if consumed:
        conn.execute("DELETE FROM outlast_inbox WHERE id = ANY(%s)", (consumed,))
    _insert_history(
        conn,
        [
            (t.instance_id, t.history_start + n, event)
            for t in turns
            for n, event in enumerate(t.history)
        ],
    )
    _insert_activities(conn, [a for t in turns for a in t.activities])


def _insert_history(conn: Conn, rows: Sequence[tuple[str, int, str]]) -> None:
    if rows:
        conn.execute(
            "INSERT INTO outlast_history (instance_id, seq, event) "
            "SELECT * FROM unnest(%s::text[], %s::integer[], %s::text[])",
            _columns(rows, 3),
        )


def _insert_activities(conn: Conn, activities: Sequence[ActivityRecord]) -> None:
    if activities:
        rows = [
            (a.instance_id, a.task_id, a.execution_id, a.name, a.input, a.owner) for a in activities
        ]
        conn.execute(
            "INSERT INTO outlast_activities "
            "(instance_id, task_id, execution_id, name, input, owner) "
            "SELECT * FROM unnest(%s::text[], %s::integer[], %s::text[], %s::text[], "
            "%s::text[], %s::text[]) "
            "ON CONFLICT (instance_id, task_id) DO UPDATE SET "
            "execution_id = EXCLUDED.execution_id, name = EXCLUDED.name, "
            "input = EXCLUDED.input, owner = EXCLUDED.owner",
            _columns(rows, 6),
        )


def _create_children(conn: Conn, turn: TurnWrite) -> list[Message]:
    """Create a turn's child instances; return the start or conflict messages to
    insert. A finished instance with a child's ID is replaced; an unfinished one
    (even one created by a concurrent transaction) gets the conflict message."""
    if not turn.children:
        return []
    cursors: list[Cursor[Any]] = []
    for child in turn.children:
        cid = child.record.instance_id
        finished = (
            "EXISTS (SELECT 1 FROM outlast_instances "
            f"WHERE instance_id = %s AND status IN {TERMINAL_SQL})"
        )
        for table in ("outlast_history", "outlast_inbox", "outlast_activities"):
            conn.execute(f"DELETE FROM {table} WHERE instance_id = %s AND {finished}", (cid, cid))
        conn.execute(
            f"DELETE FROM outlast_instances WHERE instance_id = %s AND status IN {TERMINAL_SQL}",
            (cid,),
        )
        cursors.append(
            conn.execute(
                _INSERT_INSTANCE + " ON CONFLICT (instance_id) DO NOTHING RETURNING 1",
                _instance_row(child.record),
            )
        )
    return [
        child.start if cur.fetchone() is not None else child.on_conflict
        for child, cur in zip(turn.children, cursors, strict=True)
    ]


def _load(conn: Conn, ids: list[str]) -> dict[str, tuple[InstanceRecord, list[str]]]:
    """Instances with their histories, in one round trip."""
    if not ids:
        return {}
    records = conn.execute(
        f"SELECT {INSTANCE_COLUMNS} FROM outlast_instances WHERE instance_id = ANY(%s)", (ids,)
    )
    events = conn.execute(
        "SELECT instance_id, event FROM outlast_history WHERE instance_id = ANY(%s) "
        "ORDER BY instance_id, seq",
        (ids,),
    )
    loaded: dict[str, tuple[InstanceRecord, list[str]]] = {
        r[0]: (InstanceRecord(*r), []) for r in records.fetchall()
    }
    for iid, event in events.fetchall():
        loaded[iid][1].append(event)
    return loaded


def _delete_instances(conn: Conn, ids: list[str]) -> None:
    for table in ("outlast_history", "outlast_inbox", "outlast_activities", "outlast_instances"):
        conn.execute(f"DELETE FROM {table} WHERE instance_id = ANY(%s)", (ids,))


def _insert_messages(conn: Conn, messages: Sequence[Message]) -> None:
    if messages:
        # Rows are numbered in list order: message IDs decide the order of events.
        conn.execute(
            "INSERT INTO outlast_inbox (instance_id, execution_id, event, visible_at) "
            "SELECT i, e, ev, v FROM unnest(%s::text[], %s::text[], %s::text[], "
            "%s::float8[]) WITH ORDINALITY AS m(i, e, ev, v, n) ORDER BY n",
            _columns([(m.instance_id, m.execution_id, m.event, m.visible_at) for m in messages], 4),
        )


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as columns, one array parameter each."""
    columns: list[list[Any]] = [[] for _ in range(width)]
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return columns


def _instance_row(r: InstanceRecord) -> tuple[Any, ...]:
    return (
        r.instance_id,
        r.name,
        r.status,
        r.execution_id,
        r.created_at,
        r.updated_at,
        r.input,
        r.output,
        r.custom_status,
        r.failure,
        r.parent_instance_id,
        r.owner,
    )


def _one(cur: Cursor[Any]) -> Any:
    row = cur.fetchone()
    return None if row is None else row[0]


def _state(e: BaseException) -> str:
    return getattr(e, "sqlstate", None) or ""


def _connection_lost(e: psycopg.Error, conn: Conn | None = None) -> bool:
    if conn is not None and (conn.closed or conn.broken):
        return True
    state = _state(e)
    if state.startswith("08") or state in _SHUTDOWN_STATES:
        return True
    # libpq reports a vanished server (and the pool a wait for a connection
    # that never came) without any SQLSTATE.
    return isinstance(e, psycopg.OperationalError) and not state


def _transient(e: psycopg.Error) -> bool:
    return _state(e) in _RETRY_STATES or _connection_lost(e)


def _rollback_quietly(conn: Conn) -> None:
    if conn.closed or conn.broken:
        return
    if conn.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
        with contextlib.suppress(psycopg.Error):
            conn.execute("ROLLBACK")


def _split_url(url: str) -> tuple[str, dict[str, str]]:
    """The libpq URL without outlast's own parameters, and those parameters."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in query if k in _POOL_PARAMS}
    theirs = [(k, v) for k, v in query if k not in _POOL_PARAMS]
    if not any(k == "application_name" for k, _ in theirs):
        theirs.append(("application_name", "outlast"))
    return urlunsplit(parts._replace(query=urlencode(theirs))), ours


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
