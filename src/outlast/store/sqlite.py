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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..status import TERMINAL_STATUSES
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


# A transaction stays open for more writers at most this long before it commits.
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
        self._state = threading.Condition()  # group commit bookkeeping
        self._waiting = 0  # threads waiting for the write connection
        self._txn = 0  # number of the open (or last) transaction
        self._txn_started = 0.0
        self._committed = 0  # number of the last finished transaction
        self._txn_errors: dict[int, BaseException] = {}
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

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write, committed together with whatever writes queue up meanwhile.

        Group commit across threads: the body runs in the caller's thread inside a
        savepoint of the open transaction; when other writers are already waiting
        for the connection, the caller leaves the COMMIT (the fsync) to the last of
        them and waits for it. The call returns only once its writes are durable,
        and a body that raises undoes only its own writes.
        """
        if self._closed:
            raise StoreError("the store is closed")
        with self._state:
            self._waiting += 1
        self._lock.acquire()
        with self._state:
            self._waiting -= 1
        conn = self._conn
        failure: BaseException | None = None
        try:
            if not conn.in_transaction:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                except sqlite3.Error as e:
                    raise StoreError(f"cannot begin a write transaction: {e}") from e
                self._txn += 1
                self._txn_started = time.monotonic()
            txn = self._txn
            try:
                conn.execute("SAVEPOINT w")
                yield conn
                conn.execute("RELEASE w")
            except BaseException as e:
                failure = e
                # Undo this body's writes only. If SQLite already aborted the whole
                # transaction there is no savepoint left to roll back to.
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK TO w")
                    conn.execute("RELEASE w")
            if not conn.in_transaction:
                self._end_txn(txn, failure or StoreError("SQLite aborted the transaction"))
            else:
                with self._state:
                    others_waiting = self._waiting > 0
                if not others_waiting or time.monotonic() - self._txn_started > _GROUP_SECONDS:
                    self._commit_txn(conn, txn)
        finally:
            self._lock.release()
        with self._state:
            while self._committed < txn:
                self._state.wait()
            lost = self._txn_errors.get(txn)
        if failure is not None:
            if isinstance(failure, sqlite3.Error):
                raise StoreError(f"SQLite write failed: {failure}") from failure
            raise failure
        if lost is not None:
            raise StoreError(f"SQLite commit failed; the write was not saved: {lost}") from lost

    def _commit_txn(self, conn: sqlite3.Connection, txn: int) -> None:
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            self._end_txn(txn, e)
            return
        self._end_txn(txn, None)

    def _end_txn(self, txn: int, error: BaseException | None) -> None:
        with self._state:
            if error is not None:
                self._txn_errors[txn] = error  # every caller in this transaction sees it
            self._txn_errors.pop(txn - 1000, None)  # nobody waits that long ago
            self._committed = txn
            self._state.notify_all()

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._reader().execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise StoreError(f"SQLite read failed: {e}") from e

    def _migrate(self) -> None:
        with self._write() as conn:
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
        with self._write() as conn:
            row = conn.execute(
                "SELECT status FROM instances WHERE instance_id = ?", (record.instance_id,)
            ).fetchone()
            if row is not None:
                refuse_existing(record.instance_id, row[0])
                self._delete_instances(conn, [record.instance_id])
            conn.execute(
                f"INSERT INTO instances ({INSTANCE_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _instance_row(record),
            )
            _insert_messages(conn, [start])
            conn.executemany(
                "INSERT INTO history (instance_id, seq, event) VALUES (?, ?, ?)",
                [(record.instance_id, n, _pack(e)) for n, e in enumerate(history)],
            )
            _insert_activities(conn, activities)
        self.signal([record.instance_id])

    def send_messages(self, messages: Sequence[Message]) -> None:
        with self._write() as conn:
            _insert_messages(conn, messages)
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
        with self._write() as conn:
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

    def set_status_if(self, instance_id: str, expected: str, status: str, now: float) -> bool:
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE instances SET status = ?, updated_at = ? "
                "WHERE instance_id = ? AND status = ?",
                (status, now, instance_id, expected),
            )
            changed = cur.rowcount == 1
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
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO workers (worker_id, host, pid, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (worker_id, host, pid, expires_at),
            )

    def heartbeat(self, worker_id: str, expires_at: float) -> None:
        identity = self._identities.get(worker_id)
        if identity is not None:
            # Upsert: a worker reaped while alive (paused past its lease) must get its
            # row back, or what it owns from now on could never be reaped.
            self.register_worker(worker_id, *identity, expires_at)
            return
        with self._write() as conn:
            conn.execute(
                "UPDATE workers SET expires_at = ? WHERE worker_id = ?", (expires_at, worker_id)
            )

    def remove_worker(self, worker_id: str) -> None:
        with self._write() as conn:
            self._release(conn, [worker_id])
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
            with self._write() as conn:
                self._release(conn, dead)
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

    def claim_activities(self, worker_id: str, limit: int) -> list[ActivityRecord]:
        # Workers ask often; a read first keeps the common "none" answer off the
        # write lock.
        if not self._read("SELECT 1 FROM activities WHERE owner IS NULL LIMIT 1"):
            return []
        with self._write() as conn:
            rows = conn.execute(
                "SELECT instance_id, execution_id, task_id, name, input FROM activities "
                "WHERE owner IS NULL LIMIT ?",
                (limit,),
            ).fetchall()
            conn.executemany(
                "UPDATE activities SET owner = ? WHERE instance_id = ? AND task_id = ?",
                [(worker_id, r[0], r[2]) for r in rows],
            )
        return [ActivityRecord(r[0], r[1], r[2], r[3], _unpack(r[4]), worker_id) for r in rows]

    def commit(self, batch: CommitBatch) -> set[str]:
        rejected: set[str] = set()
        signal = bool(batch.messages)
        with self._write() as conn:
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
            for turn in batch.turns:
                if self._apply_turn(conn, batch.worker_id, turn):
                    signal = True
                else:
                    rejected.add(turn.instance_id)
                    _insert_messages(conn, turn.fallback)
        if signal or batch.turns:
            self.signal([t.instance_id for t in batch.turns if t.update.status_changed])
        return rejected

    @staticmethod
    def _apply_turn(conn: sqlite3.Connection, worker_id: str, turn: TurnWrite) -> bool:
        u = turn.update
        iid = turn.instance_id
        execution_id = u.new_execution_id or turn.execution_id
        sets = "status = ?, updated_at = ?, output = ?, failure = ?, execution_id = ?, owner = ?"
        params: list[Any] = [
            u.status,
            u.updated_at,
            _pack(u.output),
            u.failure,
            execution_id,
            None if u.release else worker_id,
        ]
        if u.set_custom_status:
            sets += ", custom_status = ?"
            params.append(_pack(u.custom_status))
        if u.new_execution_id is not None:
            sets += ", input = ?"
            params.append(_pack(u.new_input))
        params += [iid, turn.execution_id, worker_id]
        cur = conn.execute(
            f"UPDATE instances SET {sets} WHERE instance_id = ? AND execution_id = ? "
            f"AND (owner IS NULL OR owner = ?) AND status NOT IN {TERMINAL_SQL}",
            params,
        )
        if cur.rowcount != 1:
            return False
        if turn.reset_history:
            for table in ("history", "activities"):
                conn.execute(f"DELETE FROM {table} WHERE instance_id = ?", (iid,))
            conn.execute(
                "DELETE FROM inbox WHERE instance_id = ? AND execution_id IS NOT NULL",
                (iid,),
            )
        if turn.consumed:
            conn.executemany("DELETE FROM inbox WHERE id = ?", [(i,) for i in turn.consumed])
        if turn.history:
            conn.executemany(
                "INSERT INTO history (instance_id, seq, event) VALUES (?, ?, ?)",
                [(iid, turn.history_start + n, _pack(e)) for n, e in enumerate(turn.history)],
            )
        _insert_activities(conn, turn.activities)
        for child in turn.children:
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
        _insert_messages(conn, turn.messages)
        return True


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
