"""SQLite store: WAL journal, ``synchronous=FULL`` by default, one transaction a batch.

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
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..errors import StoreError
from ..status import TERMINAL_STATUSES
from .base import (
    ActivityRecord,
    CommitBatch,
    InstanceQuery,
    InstanceRecord,
    InstanceUpdate,
    Message,
    Store,
    TurnWrite,
    refuse_existing,
    refuse_unfinished,
)
from .sql import INSTANCE_COLUMNS, list_query

_SCHEMA_V1 = """
CREATE TABLE instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    failure TEXT,
    parent_instance_id TEXT,
    owner TEXT
) WITHOUT ROWID;
CREATE INDEX instances_created ON instances (created_at, instance_id);
CREATE INDEX instances_status ON instances (status, created_at, instance_id);
CREATE INDEX instances_status_updated ON instances (status, updated_at);
CREATE INDEX instances_name ON instances (name, created_at, instance_id);
CREATE INDEX instances_parent ON instances (parent_instance_id)
    WHERE parent_instance_id IS NOT NULL;
CREATE INDEX instances_owner ON instances (owner) WHERE owner IS NOT NULL;
CREATE TABLE history (
    instance_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
) WITHOUT ROWID;
CREATE TABLE inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT,
    event TEXT NOT NULL,
    visible_at REAL NOT NULL
);
CREATE INDEX inbox_visible ON inbox (visible_at, id);
CREATE INDEX inbox_instance ON inbox (instance_id);
CREATE TABLE activities (
    instance_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    execution_id TEXT NOT NULL,
    name TEXT NOT NULL,
    input TEXT,
    owner TEXT,
    PRIMARY KEY (instance_id, task_id)
) WITHOUT ROWID;
CREATE INDEX activities_owner ON activities (owner);
CREATE TABLE workers (
    worker_id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
"""

# Payload-bearing values longer than this are stored zlib-compressed, as a BLOB in
# the same column: SQLite keeps such values in overflow pages, out of the B-tree
# pages that scans and replays walk, and compression shrinks what they read.
COMPRESS_OVER = 16 * 1024


def _pack(text: str | None) -> str | bytes | None:
    if text is None or len(text) <= COMPRESS_OVER:
        return text
    return zlib.compress(text.encode(), 6)


def _unpack(value: str | bytes | None) -> str | None:
    if isinstance(value, bytes):
        return zlib.decompress(value).decode()
    return value


def _record(row: Sequence[Any]) -> InstanceRecord:
    r = InstanceRecord(*row)
    r.input = _unpack(r.input)
    r.output = _unpack(r.output)
    r.custom_status = _unpack(r.custom_status)
    return r


T = TypeVar("T")


@dataclass(slots=True)
class _Write:
    body: Callable[[sqlite3.Connection], Any]
    done: bool = False
    result: Any = None
    error: BaseException | None = None


# A leader takes in more queued writes for at most this long before it commits.
_GROUP_SECONDS = 0.005

# Each entry upgrades the schema by one version; never edit a released entry.
MIGRATIONS: list[str] = [_SCHEMA_V1]

_SYNCHRONOUS = {"OFF", "NORMAL", "FULL", "EXTRA"}


class SqliteStore(Store):
    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        super().__init__()
        sync = synchronous.upper()
        if sync not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {sorted(_SYNCHRONOUS)}")
        self.path = str(path)
        self.url = f"sqlite:///{self.path}"
        self._synchronous = sync
        self._lock = threading.Lock()  # the write connection
        self._state = threading.Lock()  # guards the queue
        self._queue: list[_Write] = []  # writes waiting for a leader to run them
        self._txn = 0  # transactions committed
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._identities: dict[str, tuple[str, int]] = {}  # worker -> (host, pid)
        self._closed = False
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = self._connect()
        self._migrate()

    # --- connections ----------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA busy_timeout=30000")
        except sqlite3.Error as e:
            raise StoreError(f"cannot open SQLite database {self.path!r}: {e}") from e
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        return conn

    def _transact(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``body`` in a write transaction, committed together with whatever other
        writes are queued meanwhile; return its result once the commit is durable.

        Group commit across threads: a writer queues its body and takes the
        connection; whoever holds it (the leader) runs every queued body, each in
        its own savepoint, and commits them with one fsync. A writer that arrives
        while a leader works, a client's call during a worker's batch, say, is
        carried by that leader's commit instead of waiting to make its own. A body
        that raises undoes only its own writes, and its caller gets the error.
        """
        if self._closed:
            raise StoreError("the store is closed")
        write = _Write(body)
        with self._state:
            self._queue.append(write)
        with self.io, self._lock:
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
            self._txn += 1
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

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            with self.io:
                return self._reader().execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise StoreError(f"SQLite read failed: {e}") from e

    def _migrate(self) -> None:
        def body(conn: sqlite3.Connection) -> None:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"{self.path} has schema version {version}, newer than this "
                    f"outlast understands ({len(MIGRATIONS)}); upgrade outlast"
                )
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number}")

        self._transact(body)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for conn in [self._conn, *self._readers]:
                conn.close()
            self._readers.clear()

    # --- client side ----------------------------------------------------------------

    def create_instance(
        self,
        record: InstanceRecord,
        start: Message,
        *,
        history: Sequence[str] = (),
        activities: Sequence[ActivityRecord] = (),
    ) -> None:
        def body(conn: sqlite3.Connection) -> None:
            # The common case, a new ID, is one statement; a taken one is looked at.
            row = _instance_row(record)
            if conn.execute(_INSERT_NEW_INSTANCE, row).rowcount == 0:
                taken = conn.execute(
                    "SELECT status FROM instances WHERE instance_id = ?", (record.instance_id,)
                ).fetchone()
                refuse_existing(record.instance_id, taken[0])
                self._delete_instances(conn, [record.instance_id])
                conn.execute(_INSERT_NEW_INSTANCE, row)
            _insert_messages(conn, [start])
            if history:
                conn.executemany(
                    "INSERT INTO history (instance_id, seq, event) VALUES (?, ?, ?)",
                    [(record.instance_id, n, _pack(e)) for n, e in enumerate(history)],
                )
            _insert_activities(conn, activities)

        self._transact(body)
        self.signal([record.instance_id])

    def send_messages(self, messages: Sequence[Message]) -> None:
        self._transact(lambda conn: _insert_messages(conn, messages))
        self.signal([m.instance_id for m in messages])

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        rows = self._read(
            f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE instance_id = ?", (instance_id,)
        )
        return _record(rows[0]) if rows else None

    def list_instances(self, query: InstanceQuery) -> list[InstanceRecord]:
        sql, params = list_query(query, "instances", "?")
        return [_record(row) for row in self._read(sql, params)]

    def get_history(self, instance_id: str) -> list[str]:
        rows = self._read(
            "SELECT event FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,)
        )
        return [_unpack(r[0]) or "" for r in rows]

    def purge_instances(self, instance_ids: Sequence[str]) -> int:
        def body(conn: sqlite3.Connection) -> int:
            done: list[str] = []
            for iid in instance_ids:
                row = conn.execute(
                    "SELECT status FROM instances WHERE instance_id = ?", (iid,)
                ).fetchone()
                if row is None:
                    continue
                refuse_unfinished(iid, row[0])
                done.append(iid)
            self._delete_instances(conn, done)
            return len(done)

        return self._transact(body)

    def set_status_if(self, instance_id: str, expected: str, status: str, now: float) -> bool:
        changed = self._transact(
            lambda conn: (
                conn.execute(
                    "UPDATE instances SET status = ?, updated_at = ? "
                    "WHERE instance_id = ? AND status = ?",
                    (status, now, instance_id, expected),
                ).rowcount
                == 1
            )
        )
        if changed:
            self.signal([instance_id])
        return changed

    @staticmethod
    def _delete_instances(conn: sqlite3.Connection, ids: Sequence[str]) -> None:
        params = [(i,) for i in ids]
        for table in ("history", "inbox", "activities", "instances"):
            conn.executemany(f"DELETE FROM {table} WHERE instance_id = ?", params)

    # --- worker side ----------------------------------------------------------------

    def register_worker(self, worker_id: str, host: str, pid: int, expires_at: float) -> None:
        self._identities[worker_id] = (host, pid)
        self._transact(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO workers (worker_id, host, pid, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (worker_id, host, pid, expires_at),
            )
        )

    def heartbeat(self, worker_id: str, expires_at: float) -> None:
        identity = self._identities.get(worker_id)
        if identity is not None:
            # Upsert: a worker reaped while alive (paused past its lease) must get its
            # row back, or what it owns from now on could never be reaped.
            self.register_worker(worker_id, *identity, expires_at)
            return
        self._transact(
            lambda conn: conn.execute(
                "UPDATE workers SET expires_at = ? WHERE worker_id = ?", (expires_at, worker_id)
            )
        )

    def remove_worker(self, worker_id: str) -> None:
        self._transact(lambda conn: self._release(conn, [worker_id]))
        self.signal()

    @staticmethod
    def _release(conn: sqlite3.Connection, worker_ids: Sequence[str]) -> None:
        params = [(w,) for w in worker_ids]
        conn.executemany("DELETE FROM workers WHERE worker_id = ?", params)
        conn.executemany("UPDATE instances SET owner = NULL WHERE owner = ?", params)
        conn.executemany("UPDATE activities SET owner = NULL WHERE owner = ?", params)

    def reap_workers(self, now: float, is_dead: Callable[[str, int], bool]) -> int:
        rows = self._read("SELECT worker_id, host, pid, expires_at FROM workers")
        dead = [w for w, host, pid, exp in rows if exp < now or is_dead(host, pid)]
        if dead:
            self._transact(lambda conn: self._release(conn, dead))
            self.signal()
        return len(dead)

    def fetch_messages(self, worker_id: str, now: float, limit: int) -> list[Message]:
        rows = self._read(
            "SELECT m.instance_id, m.execution_id, m.event, m.visible_at, m.id "
            "FROM inbox m JOIN instances i ON i.instance_id = m.instance_id "
            "WHERE m.visible_at <= ? AND (i.owner IS NULL OR i.owner = ?) "
            "AND i.status != 'STALLED' ORDER BY m.visible_at, m.id LIMIT ?",
            (now, worker_id, limit),
        )
        return [Message(r[0], r[1], _unpack(r[2]) or "", r[3], r[4]) for r in rows]

    def next_visible_at(self, worker_id: str, now: float) -> float | None:
        rows = self._read(
            "SELECT MIN(m.visible_at) FROM inbox m "
            "JOIN instances i ON i.instance_id = m.instance_id "
            "WHERE m.visible_at > ? AND (i.owner IS NULL OR i.owner = ?)",
            (now, worker_id),
        )
        value = rows[0][0] if rows else None
        return float(value) if value is not None else None

    def load_instance(self, instance_id: str) -> tuple[InstanceRecord, list[str]] | None:
        record = self.get_instance(instance_id)
        if record is None:
            return None
        return record, self.get_history(instance_id)

    def load_instances(
        self, instance_ids: Sequence[str]
    ) -> dict[str, tuple[InstanceRecord, list[str]]]:
        loaded: dict[str, tuple[InstanceRecord, list[str]]] = {}
        conn = self._reader()
        try:
            with self.io:
                # One read transaction: records and histories from the same commit.
                conn.execute("BEGIN")
                try:
                    for start in range(0, len(instance_ids), 500):
                        chunk = instance_ids[start : start + 500]
                        marks = ", ".join("?" * len(chunk))
                        for row in conn.execute(
                            f"SELECT {INSTANCE_COLUMNS} FROM instances "
                            f"WHERE instance_id IN ({marks})",
                            chunk,
                        ).fetchall():
                            loaded[row[0]] = (_record(row), [])
                        for iid, event in conn.execute(
                            "SELECT instance_id, event FROM history "
                            f"WHERE instance_id IN ({marks}) ORDER BY instance_id, seq",
                            chunk,
                        ).fetchall():
                            if iid in loaded:
                                loaded[iid][1].append(_unpack(event) or "")
                finally:
                    conn.execute("COMMIT")
        except sqlite3.Error as e:
            raise StoreError(f"SQLite read failed: {e}") from e
        return loaded

    def claim_activities(self, worker_id: str, limit: int) -> list[ActivityRecord]:
        # Workers ask often; a read first keeps the common "none" answer off the
        # write lock.
        if not self._read("SELECT 1 FROM activities WHERE owner IS NULL LIMIT 1"):
            return []

        def body(conn: sqlite3.Connection) -> list[Any]:
            rows = conn.execute(
                "SELECT instance_id, execution_id, task_id, name, input FROM activities "
                "WHERE owner IS NULL LIMIT ?",
                (limit,),
            ).fetchall()
            conn.executemany(
                "UPDATE activities SET owner = ? WHERE instance_id = ? AND task_id = ?",
                [(worker_id, r[0], r[2]) for r in rows],
            )
            return rows

        rows = self._transact(body)
        return [ActivityRecord(r[0], r[1], r[2], r[3], _unpack(r[4]), worker_id) for r in rows]

    def owned_activities(self, worker_id: str) -> list[ActivityRecord]:
        rows = self._read(
            "SELECT instance_id, execution_id, task_id, name, input FROM activities "
            "WHERE owner = ?",
            (worker_id,),
        )
        return [ActivityRecord(r[0], r[1], r[2], r[3], _unpack(r[4]), worker_id) for r in rows]

    def commit(self, batch: CommitBatch) -> set[str]:
        rejected: set[str] = set()

        def body(conn: sqlite3.Connection) -> None:
            if batch.finished_activities:
                conn.executemany(
                    "DELETE FROM activities WHERE instance_id = ? AND task_id = ?",
                    batch.finished_activities,
                )
            if batch.dropped_messages:
                conn.executemany(
                    "DELETE FROM inbox WHERE id = ?", [(i,) for i in batch.dropped_messages]
                )
            _insert_messages(conn, batch.messages)
            if batch.rescheduled:
                conn.executemany(
                    "UPDATE inbox SET visible_at = ? WHERE id = ?",
                    [(at, mid) for mid, at in batch.rescheduled],
                )
            accepted = self._claimable(conn, batch.worker_id, batch.turns)
            for turn in batch.turns:
                if turn.instance_id not in accepted:
                    rejected.add(turn.instance_id)
                    _insert_messages(conn, turn.fallback)
            self._apply_turns(
                conn,
                batch.worker_id,
                [t for t in batch.turns if t.instance_id in accepted],
                accepted,
            )

        self._transact(body)
        if batch.messages or batch.turns:
            changed = {
                t.instance_id: t.update.status for t in batch.turns if t.update.status_changed
            }
            self.signal(changed, changed)
        return rejected

    @staticmethod
    def _claimable(
        conn: sqlite3.Connection, worker_id: str, turns: Sequence[TurnWrite]
    ) -> dict[str, str | None]:
        """The instances whose turns may commit: still on the turn's execution,
        unfinished, and unowned or owned by this worker. The write transaction holds
        SQLite's lock, so the answer stays true until the commit. Each maps to its
        status if this worker owns it already, else None."""
        expected = {t.instance_id: t.execution_id for t in turns}
        ids = list(expected)
        ok: dict[str, str | None] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = conn.execute(
                "SELECT instance_id, execution_id, owner, status FROM instances "
                f"WHERE instance_id IN ({', '.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            for iid, execution_id, owner, status in rows:
                if (
                    execution_id == expected[iid]
                    and owner in (None, worker_id)
                    and status not in TERMINAL_STATUSES
                ):
                    ok[iid] = status if owner == worker_id else None
        return ok

    @staticmethod
    def _apply_turns(
        conn: sqlite3.Connection,
        worker_id: str,
        turns: Sequence[TurnWrite],
        owned: dict[str, str | None],
    ) -> None:
        """Write accepted turns, one statement per kind of row for the whole batch.
        ``owned`` maps the instances this worker owns already to their status."""
        if not turns:
            return
        for turn in turns:
            if turn.reset_history:  # continue-as-new: the old run's rows go first
                iid = turn.instance_id
                for table in ("history", "activities"):
                    conn.execute(f"DELETE FROM {table} WHERE instance_id = ?", (iid,))
                conn.execute(
                    "DELETE FROM inbox WHERE instance_id = ? AND execution_id IS NOT NULL",
                    (iid,),
                )
        # Most turns of a running instance change only its update time: that
        # statement leaves the status and owner indexes alone (a third of the cost).
        touched: list[TurnWrite] = []
        changed: list[TurnWrite] = []
        for t in turns:
            (touched if _only_touches(t.update, owned.get(t.instance_id)) else changed).append(t)
        if touched:
            conn.executemany(
                "UPDATE instances SET updated_at = ? WHERE instance_id = ?",
                [(t.update.updated_at, t.instance_id) for t in touched],
            )
        if changed:
            conn.executemany(
                "UPDATE instances SET status = ?, updated_at = ?, output = ?, failure = ?, "
                "execution_id = ?, owner = ?, "
                "custom_status = CASE WHEN ? THEN ? ELSE custom_status END, "
                "input = CASE WHEN ? THEN ? ELSE input END "
                "WHERE instance_id = ?",
                [
                    (
                        u.status,
                        u.updated_at,
                        _pack(u.output),
                        u.failure,
                        u.new_execution_id or t.execution_id,
                        None if u.release else worker_id,
                        u.set_custom_status,
                        _pack(u.custom_status),
                        u.new_execution_id is not None,
                        _pack(u.new_input),
                        t.instance_id,
                    )
                    for t in changed
                    for u in (t.update,)
                ],
            )
        consumed = [(m,) for t in turns for m in t.consumed]
        if consumed:
            conn.executemany("DELETE FROM inbox WHERE id = ?", consumed)
        conn.executemany(
            "INSERT INTO history (instance_id, seq, event) VALUES (?, ?, ?)",
            [
                (t.instance_id, t.history_start + n, _pack(e))
                for t in turns
                for n, e in enumerate(t.history)
            ],
        )
        _insert_activities(conn, [a for t in turns for a in t.activities])
        for child in (c for t in turns for c in t.children):
            record = child.record
            exists = conn.execute(
                "SELECT status FROM instances WHERE instance_id = ?", (record.instance_id,)
            ).fetchone()
            if exists is not None:
                if exists[0] not in TERMINAL_STATUSES:
                    _insert_messages(conn, [child.on_conflict])
                    continue
                SqliteStore._delete_instances(conn, [record.instance_id])
            conn.execute(
                f"INSERT INTO instances ({INSTANCE_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _instance_row(record),
            )
            _insert_messages(conn, [child.start])
        _insert_messages(conn, [m for t in turns for m in t.messages])


def _only_touches(u: InstanceUpdate, owned_status: str | None) -> bool:
    """True if applying ``u`` to an instance this worker owns, in ``owned_status``,
    changes nothing but its update time."""
    return (
        u.status == owned_status
        and not u.release
        and u.output is None
        and u.failure is None
        and not u.set_custom_status
        and u.new_execution_id is None
    )


_INSERT_NEW_INSTANCE = (
    f"INSERT INTO instances ({INSTANCE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (instance_id) DO NOTHING"
)


def _instance_row(r: InstanceRecord) -> tuple[Any, ...]:
    return (
        r.instance_id,
        r.name,
        r.status,
        r.execution_id,
        r.created_at,
        r.updated_at,
        _pack(r.input),
        _pack(r.output),
        _pack(r.custom_status),
        r.failure,
        r.parent_instance_id,
        r.owner,
    )


def _insert_messages(conn: sqlite3.Connection, messages: Sequence[Message]) -> None:
    if messages:
        conn.executemany(
            "INSERT INTO inbox (instance_id, execution_id, event, visible_at) VALUES (?, ?, ?, ?)",
            [(m.instance_id, m.execution_id, _pack(m.event), m.visible_at) for m in messages],
        )


def _insert_activities(conn: sqlite3.Connection, activities: Sequence[ActivityRecord]) -> None:
    if activities:
        conn.executemany(
            "INSERT OR REPLACE INTO activities "
            "(instance_id, task_id, execution_id, name, input, owner) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (a.instance_id, a.task_id, a.execution_id, a.name, _pack(a.input), a.owner)
                for a in activities
            ],
        )
