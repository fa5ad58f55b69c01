"""What the SQL stores share: column lists, the listing query, schedule rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from outlast.core.status import TERMINAL_STATUSES, WorkflowStatus
from outlast.store.base import InstanceCounts, InstanceQuery
from outlast.store.schedules import ScheduleRecord

INSTANCE_COLUMNS = (
    "instance_id, name, status, execution_id, created_at, updated_at, input, output, "
    "custom_status, failure, parent_instance_id, owner"
)
# An activity's row as both stores read it back into an ActivityRecord.
ACTIVITY_COLUMNS = (
    "instance_id, execution_id, task_id, name, input, owner, attempt, options, "
    "limit_key, priority, queued_at"
)
# A finished instance takes no more turns, whoever asks (a stale cache elsewhere).
TERMINAL_SQL = "(" + ", ".join(f"'{s}'" for s in sorted(TERMINAL_STATUSES)) + ")"


def prefix_range(prefix: str) -> tuple[str, str]:
    """The half-open range of instance IDs that start with ``prefix``, in binary
    order: IDs are ASCII letters, digits, '_' and '-', all below DEL (0x7f)."""
    return prefix, prefix + "\x7f"


def _filters(
    query: InstanceQuery, mark: str, prefix_sql: str, statuses: bool = True
) -> tuple[list[str], list[Any]]:
    """The WHERE conditions of ``query`` but its cursor; ``prefix_sql`` tests the
    ID prefix in the dialect's way, with ``mark`` placeholders for ``prefix_range``."""
    where: list[str] = []
    params: list[Any] = []
    if statuses and query.statuses:
        where.append(f"status IN ({', '.join([mark] * len(query.statuses))})")
        params.extend(query.statuses)
    if query.instance_id_prefix:
        where.append(prefix_sql)
        params.extend(prefix_range(query.instance_id_prefix)[: prefix_sql.count(mark)])
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
    return where, params


def list_query(
    query: InstanceQuery, table: str, mark: str, prefix_sql: str
) -> tuple[str, list[Any]]:
    """The SELECT for ``list_instances``, with ``mark`` as the parameter placeholder.
    Every filter is on an indexed column; paging is a keyset cursor."""
    where, params = _filters(query, mark, prefix_sql)
    if query.after is not None:
        where.append(f"(created_at, instance_id) > ({mark}, {mark})")
        params.extend(query.after)
    sql = f"SELECT {INSTANCE_COLUMNS} FROM {table}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY created_at, instance_id LIMIT {mark}"
    params.append(query.limit)
    return sql, params


def count_query(
    query: InstanceQuery,
    table: str,
    mark: str,
    prefix_sql: str,
    cap: int,
    per_status_cap: int | None = None,
) -> tuple[str, list[Any], list[str] | None]:
    """The SELECT for ``count_instances``: rows of (status, count), or of
    (position, count) with the status at each position in the returned list.

    With no filter but statuses, a count per status: each an index-only scan of
    the status index (a GROUP BY would read and hash the whole index). With other
    filters, one GROUP BY over the first ``cap`` matching rows, which the filter's
    own index finds: counting them per status instead would read them once per
    status. ``per_status_cap``: stop each per-status count there."""
    where, params = _filters(query, mark, prefix_sql, statuses=False)
    if where:
        where, params = _filters(query, mark, prefix_sql)
        sql = (
            f"SELECT status, count(*) FROM (SELECT status FROM {table} "
            f"WHERE {' AND '.join(where)} LIMIT {mark}) matching GROUP BY status"
        )
        return sql, [*params, cap], None
    wanted = list(query.statuses) if query.statuses else [s.value for s in WorkflowStatus]
    limit = "" if per_status_cap is None else f" LIMIT {int(per_status_cap)}"
    one = f"(SELECT count(*) FROM (SELECT 1 FROM {table} WHERE status = {mark}{limit}) s)"
    parts = [f"SELECT {position}, {one}" for position in range(len(wanted))]
    return " UNION ALL ".join(parts), list(wanted), wanted


def counts_of(rows: Iterable[Sequence[Any]], names: list[str] | None, cap: int) -> InstanceCounts:
    """The counts from the rows of ``count_query``: inexact (lower bounds) when a
    filtered count stopped at ``cap``."""
    by_status = {(names[k] if names is not None else k): int(c) for k, c in rows if c}
    return InstanceCounts(by_status, exact=names is not None or sum(by_status.values()) < cap)


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
