"""Connections, transactions and retries.

Connections come from a psycopg pool. An operation that loses its connection
(server restart, failover) is retried on a fresh one until ``retry_timeout``. A
write whose connection is lost while its ``COMMIT`` is in flight is not retried
blindly: the store asks the server whether that transaction committed
(``pg_xact_status``), so a batch is never applied twice and never reported
failed when it was applied. That needs the transaction's ID before the COMMIT
is sent, which is why a durable write costs two round trips (its statement,
which returns the ID, then the COMMIT) and not one.

Opening checks the server with one direct connection first, so that a missing
database or a refused connection is reported at once and in words, rather than
as a pool that timed out.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import psycopg_pool
from psycopg import Connection
from psycopg.pq import TransactionStatus

from outlast.errors import StoreError
from outlast.redaction import redact_text, redact_url
from outlast.store.base import IoGauge
from outlast.store.postgres.prepared import Statement
from outlast.store.postgres.schema import migrate

log = logging.getLogger("outlast.store.postgres")

T = TypeVar("T")
Conn = Connection[Any]

# SQLSTATEs after which the connection is gone: admin shutdown, crash shutdown,
# "the database system is starting up / shutting down".
_SHUTDOWN_STATES = frozenset({"57P01", "57P02", "57P03"})
# The transaction was rolled back by the server and can simply run again.
_RETRY_STATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock
# Libpq parameters a URL may carry that are outlast's, not the server's.
_POOL_PARAMS = ("pool_min_size", "pool_max_size")
# libpq reports a failed connection without a SQLSTATE; these say the server is
# there but not taking connections for a moment, which is worth waiting out.
_NOT_YET = (
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "the database system is not accepting connections",
)


@dataclass(slots=True)
class Txn:
    """What a transaction body tells the runner: its transaction ID, once it has
    written something (the statements return it), for the commit-outcome check."""

    xid: str | None = None


class _Retry(Exception):
    """Run the operation again: its transaction was rolled back."""

    def __init__(self, cause: psycopg.Error) -> None:
        super().__init__(str(cause))
        self.cause = cause


class Database:
    """A pool of connections to one database, and the retrying ways to use it."""

    def __init__(
        self,
        url: str,
        *,
        min_size: int | None,
        max_size: int | None,
        connect_timeout: float,
        retry_timeout: float,
        io: IoGauge | None = None,
    ) -> None:
        self._io = io or IoGauge()
        self.conninfo, options = _split_url(url)
        min_size = min_size if min_size is not None else int(options.get("pool_min_size", 1))
        max_size = max_size if max_size is not None else int(options.get("pool_max_size", 10))
        if min_size < 0 or max_size < max(1, min_size):
            raise ValueError("need 0 <= pool_min_size <= pool_max_size and pool_max_size >= 1")
        self._retry_timeout = retry_timeout
        self.closed = False
        self._closing = threading.Event()
        with _connect(self.conninfo, url, connect_timeout) as conn:
            try:
                migrate(conn)
            except psycopg.Error as e:
                raise StoreError(_cannot_open(url, str(e))) from e
        self.pool: psycopg_pool.ConnectionPool[Conn] = psycopg_pool.ConnectionPool(
            self.conninfo,
            kwargs={"autocommit": True},
            min_size=min_size,
            max_size=max_size,
            open=False,
            name="outlast-pg-pool",
            timeout=connect_timeout,
            reconnect_timeout=max(retry_timeout, 60.0),
        )
        try:
            self.pool.open(wait=min_size > 0, timeout=connect_timeout)
        except BaseException as e:
            self.pool.close()
            if isinstance(e, psycopg.Error):
                raise StoreError(_cannot_open(url, str(e))) from e
            raise

    def stop(self) -> None:
        """Make operations fail, and retries give up, from now on."""
        self.closed = True
        self._closing.set()

    def close(self) -> None:
        self.stop()
        self.pool.close()

    @contextmanager
    def connection(self, deadline: float) -> Iterator[Conn]:
        if self.closed:
            raise StoreError("the store is closed")
        timeout = max(0.1, deadline - time.monotonic())
        with self.pool.connection(timeout=timeout) as conn:
            yield conn

    def ping(self, timeout: float) -> None:
        """One ``SELECT 1`` within ``timeout`` seconds, not retried."""
        try:
            with self.connection(time.monotonic() + timeout) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as e:
            raise StoreError(f"PostgreSQL does not answer: {redact_text(str(e))}") from e

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of one statement, outside a transaction block."""
        return self.run("read", sql, params)

    def run(
        self, what: str, sql: str | Statement, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[Any]:
        """One statement in a transaction of its own (one round trip), retried on
        a lost connection: for reads and for writes that may run twice."""

        def attempt(deadline: float) -> list[Any]:
            with self.connection(deadline) as conn:
                if isinstance(sql, Statement):
                    assert isinstance(params, Mapping)
                    cur = sql.run(conn, params)
                else:
                    assert not isinstance(params, Mapping)
                    cur = conn.execute(sql, params)
                return cur.fetchall() if cur.description is not None else []

        return self.retrying(what, attempt)

    def transact(
        self,
        what: str,
        body: Callable[[Conn, Txn], T],
        *,
        verify: bool = True,
        then: Callable[[], None] | None = None,
    ) -> T:
        """Run ``body`` in one transaction, in pipeline mode. ``verify``: if the
        connection breaks during COMMIT, ask the server what became of it rather
        than running the body again (bodies that are not idempotent need this, and
        must set ``txn.xid`` when they write). ``then`` runs once the COMMIT has
        been answered: it reads the answers of statements the body sent last
        without waiting for them, which so share the COMMIT's round trip. If the
        connection breaks before and the transaction committed, ``transact``
        returns without having run ``then``: its caller must tell."""

        def attempt(deadline: float) -> T:
            with self.connection(deadline) as conn:
                txn = Txn()
                commit_sent = False
                try:
                    with conn.pipeline():
                        conn.execute("BEGIN")
                        result = body(conn, txn)
                        # From here the outcome is the server's to tell: the COMMIT
                        # can leave with any flush of the pipeline, this very call
                        # included, so an error now does not mean it was not applied.
                        commit_sent = True
                        conn.execute("COMMIT")
                    # The pipeline's end, its Sync, read every answer: ``then``
                    # finds them in their cursors, with no round trip of its own.
                    if then is not None:
                        then()
                    return result
                except psycopg.Error as e:
                    _rollback_quietly(conn)
                    if commit_sent and verify and _connection_lost(e, conn):
                        if txn.xid is None:
                            raise  # it wrote nothing: running it again is harmless
                        if self.committed(txn.xid, deadline, e):
                            return result
                        raise _Retry(e) from e
                    raise
                except BaseException:
                    _rollback_quietly(conn)
                    raise

        return self.retrying(what, attempt)

    def retrying(self, what: str, attempt: Callable[[float], T]) -> T:
        with self._io:
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
                if not retry or self.closed or time.monotonic() + delay > deadline:
                    raise StoreError(
                        f"PostgreSQL {what} failed: {redact_text(str(cause))}"
                    ) from cause
                log.info("PostgreSQL %s failed (%s); retrying", what, redact_text(str(cause)))
                if not checked and _state(cause) not in _RETRY_STATES:
                    # The other pooled connections probably died with this one:
                    # weed them out now rather than failing on each in turn.
                    checked = True
                    with contextlib.suppress(Exception):
                        self.pool.check()
                if self._closing.wait(delay):
                    raise StoreError(f"PostgreSQL {what} failed: the store is closed") from cause
                delay = min(delay * 2, 1.0)

    def committed(self, xid: str, deadline: float, cause: psycopg.Error) -> bool:
        """Whether transaction ``xid``, whose COMMIT got no answer, committed."""
        delay = 0.05
        while True:
            try:
                with self.connection(deadline) as conn:
                    row = conn.execute("SELECT pg_xact_status(%s::xid8)", (xid,)).fetchone()
                    status = None if row is None else row[0]
            except psycopg.Error as e:
                if not _transient(e):
                    raise
                status = "unreachable"
            if status == "committed":
                return True
            if status == "aborted":
                return False
            if status is None or time.monotonic() + delay > deadline or self.closed:
                raise StoreError(
                    f"lost the connection while committing; whether transaction {xid} "
                    f"committed is unknown ({status})"
                ) from cause
            # 'in progress': the old backend has not noticed its client left yet.
            self._closing.wait(delay)
            delay = min(delay * 2, 1.0)


def _connect(conninfo: str, url: str, timeout: float) -> Conn:
    """One direct connection, or a StoreError that says why there is none. Waits
    (up to ``timeout``) only while the server says it is starting or stopping;
    a missing database, a refused login or nobody listening fail at once."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            return psycopg.connect(
                conninfo, autocommit=True, connect_timeout=max(2, round(timeout))
            )
        except psycopg.Error as e:
            message = str(e)
            if any(s in message for s in _NOT_YET) and time.monotonic() + delay < deadline:
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            raise StoreError(_cannot_open(url, _explain(message))) from e


def _explain(message: str) -> str:
    """libpq's message, led by what it means (it has no SQLSTATE to go by)."""
    # One line: libpq's spans several, with tabs.
    detail = " ".join(message.removeprefix("connection failed: ").split())
    lowered = detail.lower()
    if "database" in lowered and "does not exist" in lowered:
        return f"the database does not exist ({detail})"
    if "connection refused" in lowered:
        return f"the server refused the connection ({detail})"
    if "password authentication failed" in lowered or "pg_hba.conf" in lowered:
        return f"the server refused the login ({detail})"
    if "role" in lowered and "does not exist" in lowered:
        return f"the server refused the login ({detail})"
    return detail


def _state(e: BaseException) -> str:
    return getattr(e, "sqlstate", None) or ""


def _connection_lost(e: psycopg.Error, conn: Conn | None = None) -> bool:
    if conn is not None and (conn.closed or conn.broken):
        return True
    code = _state(e)
    if code.startswith("08") or code in _SHUTDOWN_STATES:
        return True
    # libpq reports a vanished server (and the pool a wait for a connection
    # that never came) without any SQLSTATE.
    return isinstance(e, psycopg.OperationalError) and not code


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


def _cannot_open(url: str, reason: str) -> str:
    # libpq's texts can echo a connection string back, password and all.
    return f"cannot open PostgreSQL store {redact_url(url)}: {redact_text(reason)}"
