"""The SQLite store's schedules (mixed into ``SqliteStore``): every write is one
transaction on the store's write connection."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from outlast.errors import ScheduleAlreadyExistsError
from outlast.store.schedules import (
    RUNS_KEPT,
    ScheduleFire,
    ScheduleRecord,
    ScheduleRun,
    ScheduleStore,
    all_messages,
)
from outlast.store.sql import SCHEDULE_COLUMNS, schedule_of, schedule_row
from outlast.store.sqlite.rows import INSERT_NEW_INSTANCE, insert_messages, instance_row

T = TypeVar("T")

_VALUES = ", ".join("?" * 12)
_SET = (
    "workflow = ?, input = ?, spec = ?, created_at = ?, updated_at = ?, paused = ?, "
    "note = ?, next_run_at = ?, buffered_at = ?, last_instance_id = ?, version = version + 1"
)
_UPSERT_RUN = (
    "INSERT INTO schedule_runs (schedule_id, scheduled_at, instance_id, kind, started_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (schedule_id, scheduled_at) DO UPDATE SET "
    "instance_id = excluded.instance_id, kind = excluded.kind, started_at = excluded.started_at "
    "WHERE schedule_runs.instance_id IS NULL"
)
_INSERT_SKIPPED = (
    "INSERT INTO schedule_runs (schedule_id, scheduled_at, instance_id, kind, started_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (schedule_id, scheduled_at) DO NOTHING"
)
_PRUNE_RUNS = """
DELETE FROM schedule_runs WHERE schedule_id = ?1 AND (started_at, scheduled_at) < (
    SELECT started_at, scheduled_at FROM schedule_runs WHERE schedule_id = ?1
    ORDER BY started_at DESC, scheduled_at DESC LIMIT 1 OFFSET ?2)
"""


def _run_values(run: ScheduleRun) -> tuple[Any, ...]:
    return (run.schedule_id, run.scheduled_at, run.instance_id, run.kind, run.started_at)


class SqliteSchedules(ScheduleStore):
    if TYPE_CHECKING:  # SqliteStore's and Store's

        def _transact(self, body: Callable[[sqlite3.Connection], T]) -> T: ...
        def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...
        def signal(
            self,
            instance_ids: Iterable[str] | None = None,
            statuses: Mapping[str, str] | None = None,
        ) -> None: ...

    def create_schedule(self, record: ScheduleRecord) -> None:
        def body(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                f"INSERT INTO schedules ({SCHEDULE_COLUMNS}) VALUES ({_VALUES}) "
                "ON CONFLICT (schedule_id) DO NOTHING",
                (*schedule_row(record), 1),
            )
            return cur.rowcount == 1

        if not self._transact(body):
            raise ScheduleAlreadyExistsError(
                f"a schedule with ID {record.schedule_id!r} already exists"
            )

    def get_schedule(self, schedule_id: str) -> ScheduleRecord | None:
        rows = self._read(
            f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE schedule_id = ?", (schedule_id,)
        )
        return schedule_of(rows[0]) if rows else None

    def list_schedules(self, after: str | None, limit: int) -> list[ScheduleRecord]:
        rows = self._read(
            f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE schedule_id > ? "
            "ORDER BY schedule_id LIMIT ?",
            ("" if after is None else after, limit),
        )
        return [schedule_of(r) for r in rows]

    def replace_schedule(self, record: ScheduleRecord, expected_version: int) -> bool:
        values = schedule_row(record)[1:]
        return self._transact(
            lambda conn: (
                conn.execute(
                    f"UPDATE schedules SET {_SET} WHERE schedule_id = ? AND version = ?",
                    (*values, record.schedule_id, expected_version),
                ).rowcount
                == 1
            )
        )

    def delete_schedule(self, schedule_id: str) -> bool:
        def body(conn: sqlite3.Connection) -> bool:
            conn.execute("DELETE FROM schedule_runs WHERE schedule_id = ?", (schedule_id,))
            cur = conn.execute("DELETE FROM schedules WHERE schedule_id = ?", (schedule_id,))
            return cur.rowcount == 1

        return self._transact(body)

    def due_schedules(self, now: float, limit: int) -> list[ScheduleRecord]:
        rows = self._read(
            f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE paused = 0 "
            "AND (next_run_at <= ? OR buffered_at IS NOT NULL) "
            "ORDER BY next_run_at, schedule_id LIMIT ?",
            (now, limit),
        )
        return [schedule_of(r) for r in rows]

    def next_schedule_due(self) -> float | None:
        rows = self._read("SELECT MIN(next_run_at) FROM schedules WHERE paused = 0")
        value = rows[0][0] if rows else None
        return None if value is None else float(value)

    def fire_schedule(self, fire: ScheduleFire) -> list[str] | None:
        def body(conn: sqlite3.Connection) -> list[str] | None:
            cur = conn.execute(
                "UPDATE schedules SET updated_at = ?, next_run_at = ?, buffered_at = ?, "
                "last_instance_id = ?, version = version + 1 "
                "WHERE schedule_id = ? AND version = ?",
                (
                    fire.updated_at,
                    fire.next_run_at,
                    fire.buffered_at,
                    fire.last_instance_id,
                    fire.schedule_id,
                    fire.expected_version,
                ),
            )
            if cur.rowcount != 1:
                return None
            created: list[str] = []
            for start in fire.starts:
                if conn.execute(INSERT_NEW_INSTANCE, instance_row(start.record)).rowcount:
                    created.append(start.record.instance_id)
                    conn.execute(_UPSERT_RUN, _run_values(start.run))
            conn.executemany(_INSERT_SKIPPED, [_run_values(r) for r in fire.skipped])
            insert_messages(conn, all_messages(fire, created))
            if created or fire.skipped:
                conn.execute(_PRUNE_RUNS, (fire.schedule_id, RUNS_KEPT - 1))
            return created

        created = self._transact(body)
        if created is not None and (created or fire.messages):
            self.signal(created + [m.instance_id for m in fire.messages])
        return created

    def schedule_runs(self, schedule_id: str, limit: int) -> list[ScheduleRun]:
        rows = self._read(
            "SELECT r.schedule_id, r.scheduled_at, r.instance_id, r.kind, r.started_at, "
            "i.status FROM schedule_runs r LEFT JOIN instances i ON i.instance_id = r.instance_id "
            "WHERE r.schedule_id = ? ORDER BY r.started_at DESC, r.scheduled_at DESC LIMIT ?",
            (schedule_id, limit),
        )
        return [ScheduleRun(*r) for r in rows]
