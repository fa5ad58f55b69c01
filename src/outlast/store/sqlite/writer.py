"""Connections to one SQLite file: the write connection with its group commit, and a
pool of read connections.

All writes of one process go through one connection under one lock, so turns from
the runtime and calls from clients in the same process never wait on SQLite's
sleeping busy handler; other processes on the same file are serialized by SQLite's
own write lock (``BEGIN IMMEDIATE`` with a busy timeout).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from outlast.errors import StoreError
from outlast.store.base import IoGauge

T = TypeVar("T")

# A leader takes in more queued writes for at most this long before it commits.
_GROUP_SECONDS = 0.005
# Idle read connections kept for reuse; more are opened under load and closed after.
_IDLE_READERS = 8

SYNCHRONOUS = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})


def connect(path: str, synchronous: str, *, writer: bool = True) -> sqlite3.Connection:
    """A connection to ``path``. The journal mode is a property of the file: only the
    write connection sets it (a reader asking for it can meet another process's
    write lock, and SQLite answers "locked" at once rather than waiting)."""
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
        conn.execute("PRAGMA busy_timeout=30000")
        if writer:
            _set_wal(conn)
        conn.execute(f"PRAGMA synchronous={synchronous}")
    except sqlite3.Error as e:
        raise StoreError(f"cannot open SQLite database {path!r}: {e}") from e
    return conn


def _set_wal(conn: sqlite3.Connection) -> None:
    # Switching to WAL needs the file to itself for a moment; another process opening
    # it at the same time makes SQLite answer "locked" without waiting: try again.
    deadline = time.monotonic() + 30.0
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@dataclass(slots=True)
class _Write:
    body: Callable[[sqlite3.Connection], Any]
    done: bool = False
    result: Any = None
    error: BaseException | None = None


class Connections:
    """The write connection (group commit across threads) and the read pool."""

    def __init__(self, path: str, synchronous: str, io: IoGauge) -> None:
        self.path = path
        self._synchronous = synchronous
        self._io = io
        self._lock = threading.Lock()  # the write connection
        self._state = threading.Lock()  # guards the queue and the read pool
        self._queue: list[_Write] = []  # writes waiting for a leader to run them
        self._idle: list[sqlite3.Connection] = []
        self.closed = False
        self.commits = 0  # transactions committed
        self._conn = connect(path, synchronous)

    # --- reads ------------------------------------------------------------------------

    @contextlib.contextmanager
    def reader(self) -> Iterator[sqlite3.Connection]:
        """A read connection for the duration of the block. Pooled, not per thread: a
        server's request threads come and go, and a connection per thread that
        retired would stay open (a file descriptor and a page cache each)."""
        if self.closed:
            raise StoreError("the store is closed")
        with self._state:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = connect(self.path, self._synchronous, writer=False)
        try:
            yield conn
        finally:
            with self._state:
                keep = not self.closed and len(self._idle) < _IDLE_READERS
                if keep:
                    self._idle.append(conn)
            if not keep:
                conn.close()

    def read(self, sql: str, params: Any = ()) -> list[Any]:
        try:
            with self._io, self.reader() as conn:
                return conn.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise StoreError(f"SQLite read failed: {e}") from e

    # --- writes -----------------------------------------------------------------------

    def transact(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``body`` in a write transaction, committed together with whatever other
        writes are queued meanwhile; return its result once the commit is durable.

        Group commit across threads: a writer queues its body and takes the
        connection; whoever holds it (the leader) runs every queued body, each in
        its own savepoint, and commits them with one fsync. A writer that arrives
        while a leader works, a client's call during a worker's batch, say, is
        carried by that leader's commit instead of waiting to make its own. A body
        that raises undoes only its own writes, and its caller gets the error.
        """
        if self.closed:
            raise StoreError("the store is closed")
        write = _Write(body)
        with self._state:
            self._queue.append(write)
        with self._io, self._lock:
            if not write.done:
                self._lead()
        if write.error is not None:
            raise write.error
        return write.result  # type: ignore[no-any-return]

    def _lead(self) -> None:
        """Run all queued writes in one transaction and commit it (lock held)."""
        conn = self._conn
        taken: list[_Write] = []
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise StoreError(f"cannot begin a write transaction: {e}") from e
            started = time.monotonic()
            last = False
            while not last:
                with self._state:
                    batch, self._queue = self._queue, []
                if not batch:
                    break
                for write in batch:
                    taken.append(write)
                    self._run(conn, write, first=len(taken) == 1)
                    if not conn.in_transaction:
                        raise StoreError("SQLite aborted the transaction")
                # Past the time, one more sweep: writes queued while a long batch
                # ran ride along instead of waiting for it and then committing
                # alone; later ones lead the next transaction.
                last = time.monotonic() - started > _GROUP_SECONDS
            conn.execute("COMMIT")
            self.commits += 1
        except BaseException as e:
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            lost = e if isinstance(e, StoreError) else StoreError(f"SQLite commit failed: {e}")
            for write in taken:
                if write.error is None:
                    write.error, write.result = lost, None
            with self._state:  # queued but not run: they fail with it, never hang
                rest, self._queue = self._queue, []
            for write in rest:
                write.error = lost
                write.done = True
            if not isinstance(e, Exception):
                raise
        finally:
            for write in taken:
                write.done = True

    @staticmethod
    def _run(conn: sqlite3.Connection, write: _Write, *, first: bool) -> None:
        """Run one body so that, should it raise, only its own writes are undone:
        in a savepoint, or, as the transaction's first body, by rolling the
        transaction back and beginning it again (two statements fewer for the
        common transaction of one write, each a GIL hand-off)."""
        if not first:
            conn.execute("SAVEPOINT w")
        try:
            write.result = write.body(conn)
            if not first:
                conn.execute("RELEASE w")
        except BaseException as e:
            # If SQLite already aborted the whole transaction there is no savepoint
            # left to roll back to.
            with contextlib.suppress(sqlite3.Error):
                if first:
                    conn.execute("ROLLBACK")
                else:
                    conn.execute("ROLLBACK TO w")
                    conn.execute("RELEASE w")
            if isinstance(e, sqlite3.Error):
                write.error = StoreError(f"SQLite write failed: {e}")
            elif isinstance(e, Exception):
                write.error = e
            else:
                raise
            if first:
                conn.execute("BEGIN IMMEDIATE")  # for the writes that follow

    def close(self) -> None:
        with self._lock, self._state:
            self.closed = True
            for conn in [self._conn, *self._idle]:
                conn.close()
            self._idle.clear()
