"""``SqliteStore``: the Store interface over one SQLite file.

The pieces: tables and migrations (``schema.py``), the write connection's group
commit and the read pool (``writer.py``), rows in and out (``rows.py``), and a
worker's batch commit (``commit.py``); schedules (``schedules.py``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any, TypeVar

from outlast.core.flow import Limit
from outlast.errors import StoreError
from outlast.store.admission import Budget, queued_in
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
from outlast.store.sql import INSTANCE_COLUMNS, count_query, counts_of, list_query
from outlast.store.sqlite.commit import commit_batch, delete_instances
from outlast.store.sqlite.flow import admit, queue_slots
from outlast.store.sqlite.rows import (
    INSERT_NEW_INSTANCE,
    activity_of,
    insert_activities,
    insert_messages,
    instance_row,
    pack,
    record_of,
    unpack,
)
from outlast.store.sqlite.schedules import SqliteSchedules
from outlast.store.sqlite.schema import migrate
from outlast.store.sqlite.writer import SYNCHRONOUS, Connections

T = TypeVar("T")

_FETCH = (
    "SELECT m.instance_id, m.execution_id, {columns}, m.visible_at, m.id "
    "FROM inbox m JOIN instances i ON i.instance_id = m.instance_id "
    "WHERE m.visible_at <= ? AND (i.owner IS NULL OR i.owner = ?) "
    "AND i.status != 'STALLED' {names}ORDER BY m.visible_at, m.id LIMIT ?"
)


def _names_clause(
    names: Collection[str] | None, owned: str, column: str, worker_id: str
) -> tuple[str, list[Any]]:
    """The filter of a claim to ``names`` (none: no filter), and its parameters."""
    if names is None:
        return "", []
    marks = ", ".join("?" * len(names))
    only = f"{column} IN ({marks})" if names else "0"
    if not owned:
        return f"AND {only} ", list(names)
    return f"AND ({owned} = ? OR {only}) ", [worker_id, *names]


# SQLite compares text in binary order, so an ID prefix is a range of the key.
_PREFIX = "instance_id >= ? AND instance_id < ?"


class SqliteStore(SqliteSchedules, Store):
    """A store in one SQLite file (WAL journal, ``synchronous=FULL`` by default)."""

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        super().__init__()
        sync = synchronous.upper()
        if sync not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {sorted(SYNCHRONOUS)}")
        self.path = str(path)
        self.url = f"sqlite:///{self.path}"
        self._identities: dict[str, tuple[str, int]] = {}  # worker -> (host, pid)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.connections = Connections(self.path, sync, self.io)
        self._transact(lambda conn: migrate(conn, self.path))

    def _transact(self, body: Callable[[sqlite3.Connection], T]) -> T:
        return self.connections.transact(body)

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.connections.read(sql, params)

    def close(self) -> None:
        self.connections.close()

    def probe(self) -> None:
        self.connections.check_file()
        super().probe()

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
            row = instance_row(record)
            if conn.execute(INSERT_NEW_INSTANCE, row).rowcount == 0:
                taken = conn.execute(
                    "SELECT status FROM instances WHERE instance_id = ?", (record.instance_id,)
                ).fetchone()
                refuse_existing(record.instance_id, taken[0])
                delete_instances(conn, [record.instance_id])
                conn.execute(INSERT_NEW_INSTANCE, row)
            insert_messages(conn, [start])
            if history:
                conn.executemany(
                    "INSERT INTO history (instance_id, seq, event) VALUES (?, ?, ?)",
                    [(record.instance_id, n, pack(e)) for n, e in enumerate(history)],
                )
            insert_activities(conn, activities)

        self._transact(body)
        self.signal([record.instance_id])

    def send_messages(self, messages: Sequence[Message]) -> None:
        self._transact(lambda conn: insert_messages(conn, messages))
        self.signal([m.instance_id for m in messages])

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        rows = self._read(
            f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE instance_id = ?", (instance_id,)
        )
        return record_of(rows[0]) if rows else None

    def list_instances(self, query: InstanceQuery) -> list[InstanceRecord]:
        sql, params = list_query(query, "instances", "?", _PREFIX)
        return [record_of(row) for row in self._read(sql, params)]

    def count_instances(self, query: InstanceQuery, cap: int = COUNT_CAP) -> InstanceCounts:
        sql, params, names = count_query(query, "instances", "?", _PREFIX, cap)
        return counts_of(self._read(sql, params), names, cap)

    def pending_activities(self, instance_id: str) -> list[ActivityRecord]:
        rows = self._read(
            "SELECT instance_id, execution_id, task_id, name, input, owner, attempt, options, "
            "limit_key, priority, queued_at FROM activities "
            "WHERE instance_id = ? ORDER BY task_id",
            (instance_id,),
        )
        return [activity_of(r) for r in rows]

    def get_history(self, instance_id: str) -> list[str]:
        rows = self._read(
            "SELECT event FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,)
        )
        return [unpack(r[0]) or "" for r in rows]

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
            delete_instances(conn, done)
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
        # The attempt a worker held when it went away counts (ActivityContext.attempt).
        conn.executemany(
            "UPDATE activities SET owner = NULL, attempt = attempt + 1 WHERE owner = ?", params
        )

    def reap_workers(self, now: float, is_dead: Callable[[str, int], bool]) -> int:
        rows = self._read("SELECT worker_id, host, pid, expires_at FROM workers")
        dead = [w for w, host, pid, exp in rows if exp < now or is_dead(host, pid)]
        if dead:
            self._transact(lambda conn: self._release(conn, dead))
            self.signal()
        return len(dead)

    def fetch_messages(
        self, worker_id: str, now: float, limit: int, names: Collection[str] | None = None
    ) -> list[Message]:
        clause, extra = _names_clause(names, "i.owner", "i.name", worker_id)
        params = (now, worker_id, *extra, limit)
        try:
            rows = self._read(_FETCH.format(columns="m.event", names=clause), params)
        except StoreError:
            return self._fetch_row_by_row(clause, params)
        return [Message(r[0], r[1], unpack(r[2]) or "", r[3], r[4]) for r in rows]

    def _fetch_row_by_row(self, clause: str, params: tuple[Any, ...]) -> list[Message]:
        """The fetch when it failed: a damaged page (under one message's event, say)
        fails every read that touches it. The rows without their events first, then
        each event alone; an unreadable one is reported on its message."""
        rows = self._read(_FETCH.format(columns="NULL", names=clause), params)
        messages = []
        for instance_id, execution_id, _, visible_at, mid in rows:
            message = Message(instance_id, execution_id, "", visible_at, mid)
            try:
                found = self._read("SELECT event FROM inbox WHERE id = ?", (mid,))
                message.event = unpack(found[0][0]) or "" if found else ""
            except StoreError as e:
                message.error = str(e)
            messages.append(message)
        return messages

    def next_visible_at(self, worker_id: str, now: float) -> float | None:
        rows = self._read(
            "SELECT MIN(m.visible_at) FROM inbox m "
            "JOIN instances i ON i.instance_id = m.instance_id "
            "WHERE m.visible_at > ? AND (i.owner IS NULL OR i.owner = ?)",
            (now, worker_id),
        )
        value = rows[0][0] if rows else None
        return float(value) if value is not None else None

    def queue_stats(self, now: float) -> QueueStats:
        rows = self._read(
            "SELECT (SELECT COUNT(*) FROM inbox WHERE visible_at <= ?), "
            "(SELECT MIN(visible_at) FROM inbox WHERE visible_at <= ?), "
            "(SELECT COUNT(*) FROM activities)",
            (now, now),
        )
        ready, oldest, activities = rows[0]
        return QueueStats(int(ready), None if oldest is None else float(oldest), int(activities))

    def load_instance(self, instance_id: str) -> tuple[InstanceRecord, list[str]] | None:
        record = self.get_instance(instance_id)
        if record is None:
            return None
        return record, self.get_history(instance_id)

    def load_instances(
        self, instance_ids: Sequence[str]
    ) -> dict[str, tuple[InstanceRecord, list[str]]]:
        loaded: dict[str, tuple[InstanceRecord, list[str]]] = {}
        try:
            with self.io, self.connections.reader() as conn:
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
                            loaded[row[0]] = (record_of(row), [])
                        for iid, event in conn.execute(
                            "SELECT instance_id, event FROM history "
                            f"WHERE instance_id IN ({marks}) ORDER BY instance_id, seq",
                            chunk,
                        ).fetchall():
                            if iid in loaded:
                                loaded[iid][1].append(unpack(event) or "")
                finally:
                    conn.execute("COMMIT")
        except sqlite3.Error as e:
            raise StoreError(f"SQLite read failed: {e}") from e
        return loaded

    def claim_activities(
        self, worker_id: str, limit: int, names: Collection[str] | None = None
    ) -> list[ActivityRecord]:
        # Workers ask often; a read first keeps the common "none" answer off the
        # write lock.
        if not self._read(
            "SELECT 1 FROM activities WHERE owner IS NULL AND queued_at IS NULL LIMIT 1"
        ):
            return []
        clause, extra = _names_clause(names, "", "name", worker_id)

        def body(conn: sqlite3.Connection) -> list[Any]:
            rows = conn.execute(
                "SELECT instance_id, execution_id, task_id, name, input, attempt, options "
                f"FROM activities WHERE owner IS NULL AND queued_at IS NULL {clause}LIMIT ?",
                (*extra, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE activities SET owner = ? WHERE instance_id = ? AND task_id = ?",
                [(worker_id, r[0], r[2]) for r in rows],
            )
            return rows

        rows = self._transact(body)
        return [
            ActivityRecord(r[0], r[1], r[2], r[3], unpack(r[4]), worker_id, r[5], r[6])
            for r in rows
        ]

    def admit_activities(
        self, worker_id: str, limits: Sequence[Limit], now: float, room: int, backlog: int = 0
    ) -> list[ActivityRecord]:
        budget = Budget(room, backlog)
        if budget.spent or not limits:
            return []
        names = [limit.name for limit in limits]
        marks = ", ".join("?" * len(names))
        # Most looks find no queue: a read keeps that answer off the write lock.
        if not self._read(
            f"SELECT 1 FROM activities WHERE name IN ({marks}) "
            "AND owner IS NULL AND queued_at IS NOT NULL LIMIT 1",
            names,
        ):
            return []
        return self._transact(lambda conn: admit(conn, worker_id, limits, now, budget))

    def owned_activities(self, worker_id: str) -> list[ActivityRecord]:
        rows = self._read(
            "SELECT instance_id, execution_id, task_id, name, input, owner, attempt, options, "
            "limit_key, priority, queued_at FROM activities WHERE owner = ?",
            (worker_id,),
        )
        return [activity_of(r) for r in rows]

    def commit(self, batch: CommitBatch) -> set[str]:
        def body(conn: sqlite3.Connection) -> set[str]:
            rejected = commit_batch(conn, batch)
            if batch.queued:
                queue_slots(conn, batch.queued)
            a = batch.admission
            if a is not None:
                budget = Budget(a.room, a.backlog)
                known = queued_in(batch)
                batch.admitted = admit(conn, batch.worker_id, a.limits, a.now, budget, known)
            return rejected

        rejected = self._transact(body)
        if batch.messages or batch.turns:
            changed = {
                t.instance_id: t.update.status for t in batch.turns if t.update.status_changed
            }
            self.signal(changed, changed)
        return rejected
