"""The SQLite store's worker side (mixed into ``SqliteStore``): worker leases,
looks for work (messages, activities) and the loads a turn starts from."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from outlast.errors import StoreError
from outlast.store.base import ActivityRecord, InstanceRecord, IoGauge, Message, QueueStats
from outlast.store.sql import ACTIVITY_COLUMNS, INSTANCE_COLUMNS
from outlast.store.sqlite.rows import activity_of, record_of, unpack
from outlast.store.sqlite.writer import Connections

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


class SqliteWorkers:
    """What workers ask of the store, but their commits and admissions."""

    if TYPE_CHECKING:  # SqliteStore's and Store's
        connections: Connections
        io: IoGauge
        _identities: dict[str, tuple[str, int]]

        def _transact(self, body: Callable[[sqlite3.Connection], T]) -> T: ...
        def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...
        def signal(
            self,
            instance_ids: Iterable[str] | None = None,
            statuses: Mapping[str, str] | None = None,
        ) -> None: ...
        def get_instance(self, instance_id: str) -> InstanceRecord | None: ...
        def get_history(self, instance_id: str) -> list[str]: ...

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

    def owned_activities(self, worker_id: str) -> list[ActivityRecord]:
        rows = self._read(
            f"SELECT {ACTIVITY_COLUMNS} FROM activities WHERE owner = ?",
            (worker_id,),
        )
        return [activity_of(r) for r in rows]
