"""What the SQL stores share: column lists, the listing query, the refusals."""

from __future__ import annotations

from typing import Any

from outlast.core.status import TERMINAL_STATUSES, WorkflowStatus
from outlast.store.base import InstanceQuery

INSTANCE_COLUMNS = (
    "instance_id, name, status, execution_id, created_at, updated_at, input, output, "
    "custom_status, failure, parent_instance_id, owner"
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
    query: InstanceQuery, table: str, mark: str, prefix_sql: str
) -> tuple[str, list[Any], list[str]]:
    """One SELECT of (position, count) rows for ``count_instances``, and the status
    at each position: a count per status, each an index-only scan of the status
    index when no other filter is set (a GROUP BY would read and hash it all)."""
    where, params = _filters(query, mark, prefix_sql, statuses=False)
    wanted = list(query.statuses) if query.statuses else [s.value for s in WorkflowStatus]
    parts = []
    all_params: list[Any] = []
    for position, status in enumerate(wanted):
        conditions = " AND ".join([f"status = {mark}", *where])
        parts.append(f"SELECT {position}, (SELECT count(*) FROM {table} WHERE {conditions})")
        all_params.extend([status, *params])
    return " UNION ALL ".join(parts), all_params, wanted
