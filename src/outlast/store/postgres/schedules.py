"""The PostgreSQL store's schedules (mixed into ``PostgresStore``).

A fire is one statement: the schedule row is updated only at the version the
caller read (``WHERE version = ...``; a concurrent fire of the same schedule waits
for the first one's row lock, then finds the version moved on and writes
nothing), and everything else hangs on that update. Tick instances are inserted
``ON CONFLICT DO NOTHING``: a taken ID starts nothing. Writes return their
transaction ID, so a commit whose answer was lost is checked, not run twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from outlast.errors import ScheduleAlreadyExistsError
from outlast.store.postgres.connection import Conn, Database, Txn
from outlast.store.postgres.prepared import Statement
from outlast.store.postgres.rows import (
    dumps,
    instance_row,
    instance_values,
    message_rows,
    message_values,
)
from outlast.store.postgres.statements import XID, notify_if
from outlast.store.schedules import (
    RUNS_KEPT,
    ScheduleFire,
    ScheduleRecord,
    ScheduleRun,
    ScheduleStore,
)
from outlast.store.sql import INSTANCE_COLUMNS, SCHEDULE_COLUMNS, schedule_of, schedule_row

_RUN_COLUMNS = "schedule_id, scheduled_at, instance_id, kind, started_at"


def _run_values(alias: str) -> str:
    a = alias
    return f"{a}->>0, ({a}->>1)::float8, {a}->>2, {a}->>3, ({a}->>4)::float8"


def _run_row(run: ScheduleRun) -> list[Any]:
    return [run.schedule_id, run.scheduled_at, run.instance_id, run.kind, run.started_at]


_CREATE = Statement(f"""
WITH ins AS (
    INSERT INTO outlast_schedules ({SCHEDULE_COLUMNS})
    VALUES (%(id)s, %(workflow)s, %(input)s, %(spec)s, %(created)s, %(updated)s,
        %(paused)s, %(note)s, %(next)s, %(buffered)s, %(last)s, 1)
    ON CONFLICT (schedule_id) DO NOTHING
    RETURNING schedule_id
)
SELECT {XID}, EXISTS (SELECT 1 FROM ins)
""")

_REPLACE = Statement(f"""
WITH changed AS (
    UPDATE outlast_schedules SET workflow = %(workflow)s, input = %(input)s, spec = %(spec)s,
        created_at = %(created)s, updated_at = %(updated)s, paused = %(paused)s,
        note = %(note)s, next_run_at = %(next)s, buffered_at = %(buffered)s,
        last_instance_id = %(last)s, version = version + 1
    WHERE schedule_id = %(id)s AND version = %(version)s
    RETURNING schedule_id
)
SELECT {XID}, EXISTS (SELECT 1 FROM changed)
""")

_DELETE = Statement(f"""
WITH runs AS (
    DELETE FROM outlast_schedule_runs WHERE schedule_id = %(id)s
), gone AS (
    DELETE FROM outlast_schedules WHERE schedule_id = %(id)s RETURNING schedule_id
)
SELECT {XID}, EXISTS (SELECT 1 FROM gone)
""")

# %(d)s: {"r": [instance row], "m": [start message row], "u": [run row of a start],
# "k": [run row of a skipped tick], "x": [other message row]}.
_FIRE = Statement(f"""
WITH s AS (
    UPDATE outlast_schedules SET updated_at = %(now)s, next_run_at = %(next)s,
        buffered_at = %(buffered)s, last_instance_id = %(last)s, version = version + 1
    WHERE schedule_id = %(id)s AND version = %(version)s
    RETURNING schedule_id
), ins AS (
    INSERT INTO outlast_instances ({INSTANCE_COLUMNS})
    SELECT {instance_values("x.r")} FROM s, jsonb_array_elements(%(d)s::jsonb -> 'r') AS x(r)
    ON CONFLICT (instance_id) DO NOTHING
    RETURNING instance_id
), starts AS (
    INSERT INTO outlast_inbox (instance_id, execution_id, event, visible_at)
    SELECT {message_values("x.m")}
    FROM jsonb_array_elements(%(d)s::jsonb -> 'm') WITH ORDINALITY AS x(m, n)
    WHERE x.m->>0 IN (SELECT instance_id FROM ins)
    ORDER BY x.n
), runs AS (
    INSERT INTO outlast_schedule_runs ({_RUN_COLUMNS})
    SELECT {_run_values("x.u")} FROM jsonb_array_elements(%(d)s::jsonb -> 'u') AS x(u)
    WHERE x.u->>2 IN (SELECT instance_id FROM ins)
    ON CONFLICT (schedule_id, scheduled_at) DO UPDATE SET instance_id = EXCLUDED.instance_id,
        kind = EXCLUDED.kind, started_at = EXCLUDED.started_at
    WHERE outlast_schedule_runs.instance_id IS NULL
), skipped AS (
    INSERT INTO outlast_schedule_runs ({_RUN_COLUMNS})
    SELECT {_run_values("x.u")} FROM s, jsonb_array_elements(%(d)s::jsonb -> 'k') AS x(u)
    ON CONFLICT (schedule_id, scheduled_at) DO NOTHING
), sent AS (
    INSERT INTO outlast_inbox (instance_id, execution_id, event, visible_at)
    SELECT {message_values("x.m")}
    FROM s, jsonb_array_elements(%(d)s::jsonb -> 'x') WITH ORDINALITY AS x(m, n)
    ORDER BY x.n
)
SELECT {XID}, EXISTS (SELECT 1 FROM s), ARRAY(SELECT instance_id FROM ins), {notify_if("s")}
""")

_PRUNE_RUNS = Statement("""
DELETE FROM outlast_schedule_runs WHERE schedule_id = %(id)s AND (started_at, scheduled_at) < (
    SELECT started_at, scheduled_at FROM outlast_schedule_runs WHERE schedule_id = %(id)s
    ORDER BY started_at DESC, scheduled_at DESC LIMIT 1 OFFSET %(offset)s)
""")

_GET = f"SELECT {SCHEDULE_COLUMNS} FROM outlast_schedules WHERE schedule_id = %s"
_LIST = (
    f"SELECT {SCHEDULE_COLUMNS} FROM outlast_schedules WHERE schedule_id > %s "
    "ORDER BY schedule_id LIMIT %s"
)
_DUE = (
    f"SELECT {SCHEDULE_COLUMNS} FROM outlast_schedules WHERE NOT paused "
    "AND (next_run_at <= %s OR buffered_at IS NOT NULL) "
    "ORDER BY next_run_at, schedule_id LIMIT %s"
)
_NEXT_DUE = (
    "SELECT next_run_at FROM outlast_schedules WHERE NOT paused AND next_run_at IS NOT NULL "
    "ORDER BY next_run_at LIMIT 1"
)
_RUNS = f"""
SELECT {", ".join("r." + c for c in _RUN_COLUMNS.split(", "))}, i.status
FROM outlast_schedule_runs r LEFT JOIN outlast_instances i ON i.instance_id = r.instance_id
WHERE r.schedule_id = %s ORDER BY r.started_at DESC, r.scheduled_at DESC LIMIT %s
"""


def _params(record: ScheduleRecord) -> dict[str, Any]:
    names = (
        *("id", "workflow", "input", "spec", "created", "updated"),
        *("paused", "note", "next", "buffered", "last"),
    )
    return dict(zip(names, schedule_row(record), strict=True))


class PostgresSchedules(ScheduleStore):
    _db: Database

    if TYPE_CHECKING:  # PostgresStore's and Store's

        def _payload(self, instance_ids: Sequence[str] | None) -> str: ...
        def _forget_fetched(self) -> None: ...
        def signal(
            self,
            instance_ids: Iterable[str] | None = None,
            statuses: Mapping[str, str] | None = None,
        ) -> None: ...

    def _write(self, what: str, statement: Statement, params: Mapping[str, Any]) -> bool:
        """Run a one-statement write that returns (xid, whether it applied)."""

        def body(conn: Conn, txn: Txn) -> bool:
            row = statement.run(conn, params).fetchone()
            assert row is not None
            txn.xid = row[0]
            return bool(row[1])

        return self._db.transact(what, body)

    def create_schedule(self, record: ScheduleRecord) -> None:
        if not self._write("create_schedule", _CREATE, _params(record)):
            raise ScheduleAlreadyExistsError(
                f"a schedule with ID {record.schedule_id!r} already exists"
            )

    def get_schedule(self, schedule_id: str) -> ScheduleRecord | None:
        rows = self._db.read(_GET, (schedule_id,))
        return schedule_of(rows[0]) if rows else None

    def list_schedules(self, after: str | None, limit: int) -> list[ScheduleRecord]:
        rows = self._db.read(_LIST, ("" if after is None else after, limit))
        return [schedule_of(r) for r in rows]

    def replace_schedule(self, record: ScheduleRecord, expected_version: int) -> bool:
        params = {**_params(record), "version": expected_version}
        return self._write("replace_schedule", _REPLACE, params)

    def delete_schedule(self, schedule_id: str) -> bool:
        return self._write("delete_schedule", _DELETE, {"id": schedule_id})

    def due_schedules(self, now: float, limit: int) -> list[ScheduleRecord]:
        return [schedule_of(r) for r in self._db.read(_DUE, (now, limit))]

    def next_schedule_due(self) -> float | None:
        rows = self._db.read(_NEXT_DUE)
        return float(rows[0][0]) if rows else None

    def fire_schedule(self, fire: ScheduleFire) -> list[str] | None:
        self._forget_fetched()
        touched = [s.record.instance_id for s in fire.starts]
        touched += [m.instance_id for m in fire.messages]
        doc = {
            "r": [instance_row(s.record) for s in fire.starts],
            "m": message_rows(s.start for s in fire.starts),
            "u": [_run_row(s.run) for s in fire.starts],
            "k": [_run_row(r) for r in fire.skipped],
            "x": message_rows(fire.messages),
        }
        doc_text = dumps(doc)
        params: dict[str, Any] = {
            "id": fire.schedule_id,
            "version": fire.expected_version,
            "now": fire.updated_at,
            "next": fire.next_run_at,
            "buffered": fire.buffered_at,
            "last": fire.last_instance_id,
            "d": doc_text,
            "n": self._payload(touched) if touched else None,
        }
        prune = bool(fire.starts or fire.skipped)

        def body(conn: Conn, txn: Txn) -> list[str] | None:
            row = _FIRE.run(conn, params, doc_text).fetchone()
            assert row is not None
            txn.xid = row[0]
            if not row[1]:
                return None
            if prune:
                _PRUNE_RUNS.run(conn, {"id": fire.schedule_id, "offset": RUNS_KEPT - 1})
            return list(row[2])

        created = self._db.transact("fire_schedule", body)
        if created is not None and touched:
            self.signal(touched)
        return created

    def schedule_runs(self, schedule_id: str, limit: int) -> list[ScheduleRun]:
        return [ScheduleRun(*r) for r in self._db.read(_RUNS, (schedule_id, limit))]
