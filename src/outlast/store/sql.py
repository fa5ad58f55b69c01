"""What the SQL stores share: column lists, the listing query, schedule rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from outlast.core.status import TERMINAL_STATUSES
from outlast.store.base import InstanceQuery
from outlast.store.schedules import ScheduleRecord

INSTANCE_COLUMNS = (
    "instance_id, name, status, execution_id, created_at, updated_at, input, output, "
    "custom_status, failure, parent_instance_id, owner"
)
# A finished instance takes no more turns, whoever asks (a stale cache elsewhere).
TERMINAL_SQL = "(" + ", ".join(f"'{s}'" for s in sorted(TERMINAL_STATUSES)) + ")"


def list_query(query: InstanceQuery, table: str, mark: str) -> tuple[str, list[Any]]:
    """The SELECT for ``list_instances``, with ``mark`` as the parameter placeholder.
    Every filter is on an indexed column; paging is a keyset cursor."""
    where: list[str] = []
    params: list[Any] = []
    if query.statuses:
        where.append(f"status IN ({', '.join([mark] * len(query.statuses))})")
        params.extend(query.statuses)
    for column, op, value in (
        ("name", "=", query.name),
        ("created_at", ">=", query.created_after),
        ("created_at", "<", query.created_before),
        ("parent_instance_id", "=", query.parent_instance_id),
        ("updated_at", "<", query.updated_before),
    ):
        if value is not None:
            where.append(f"{column} {op} {mark}")
            params.append(value)
    if query.after is not None:
        where.append(f"(created_at, instance_id) > ({mark}, {mark})")
        params.extend(query.after)
    sql = f"SELECT {INSTANCE_COLUMNS} FROM {table}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY created_at, instance_id LIMIT {mark}"
    params.append(query.limit)
    return sql, params


# --- schedules ------------------------------------------------------------------------

SCHEDULE_COLUMNS = (
    "schedule_id, workflow, input, spec, created_at, updated_at, paused, note, "
    "next_run_at, buffered_at, last_instance_id, version"
)


def schedule_of(row: Sequence[Any]) -> ScheduleRecord:
    record = ScheduleRecord(*row)
    record.paused = bool(record.paused)
    return record


def schedule_row(r: ScheduleRecord) -> tuple[Any, ...]:
    """The values of ``SCHEDULE_COLUMNS`` but the version, in order."""
    return (
        r.schedule_id,
        r.workflow,
        r.input,
        r.spec,
        r.created_at,
        r.updated_at,
        r.paused,
        r.note,
        r.next_run_at,
        r.buffered_at,
        r.last_instance_id,
    )
