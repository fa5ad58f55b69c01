"""The SQLite store's client side (mixed into ``SqliteStore``): creating,
reading, purging instances and sending them messages; every write is one
transaction on the store's write connection."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from outlast.store.base import (
    COUNT_CAP,
    ActivityRecord,
    InstanceCounts,
    InstanceQuery,
    InstanceRecord,
    Message,
    refuse_existing,
    refuse_unfinished,
)
from outlast.store.sql import ACTIVITY_COLUMNS, INSTANCE_COLUMNS, count_query, counts_of, list_query
from outlast.store.sqlite.commit import delete_instances
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

T = TypeVar("T")

# SQLite compares text in binary order, so an ID prefix is a range of the key.
_PREFIX = "instance_id >= ? AND instance_id < ?"


class SqliteClients:
    """What clients ask of the store."""

    if TYPE_CHECKING:  # SqliteStore's and Store's

        def _transact(self, body: Callable[[sqlite3.Connection], T]) -> T: ...
        def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...
        def signal(
            self,
            instance_ids: Iterable[str] | None = None,
            statuses: Mapping[str, str] | None = None,
        ) -> None: ...

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
            f"SELECT {ACTIVITY_COLUMNS} FROM activities WHERE instance_id = ? ORDER BY task_id",
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
