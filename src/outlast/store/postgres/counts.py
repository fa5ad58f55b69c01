"""Listing filters and counts that PostgreSQL answers its own way: ID prefixes by
the database's collation, and large status counts from the planner's statistics."""

from __future__ import annotations

from outlast.store.base import InstanceCounts, InstanceQuery
from outlast.store.postgres import statements as sql
from outlast.store.postgres.connection import Database
from outlast.store.sql import count_query, counts_of

# An ID prefix is a range of the key where text sorts by code point (the "C"
# collations); under others only starts_with is right, and it reads every row.
PREFIX_RANGE = "instance_id >= %s AND instance_id < %s"
PREFIX_ANY = "starts_with(instance_id, %s)"
# Each status is counted up to this many; beyond, the figure is the planner's
# estimate (its statistics of the status column), so that counts stay cheap over
# millions of instances.
EXACT_COUNT_UP_TO = 10_000


def prefix_sql(db: Database) -> str:
    """How this database tests an ID prefix."""
    rows = db.read(sql.DATABASE_COLLATION)
    collate, provider = rows[0] if rows else ("", None)
    by_code_point = collate in ("C", "POSIX") or collate.startswith("C.")
    return PREFIX_RANGE if provider in (None, "c") and by_code_point else PREFIX_ANY


def count(db: Database, query: InstanceQuery, prefix: str, cap: int) -> InstanceCounts:
    """``Store.count_instances``: exact up to ``EXACT_COUNT_UP_TO`` a status (for
    unfiltered counts), estimated beyond."""
    statement, params, names = count_query(
        query, "outlast_instances", "%s", prefix, cap, EXACT_COUNT_UP_TO
    )
    counts = counts_of(db.read(statement, params), names, cap)
    many = [s for s, n in counts.by_status.items() if n >= EXACT_COUNT_UP_TO]
    if names is None or not many:
        return counts
    rows = db.read(sql.STATUS_ESTIMATES)
    total, values, freqs = rows[0] if rows else (0, None, None)
    estimates = dict(zip(values or [], freqs or [], strict=False))
    for status in many:
        estimate = round(float(total) * float(estimates.get(status, 0)))
        counts.by_status[status] = max(EXACT_COUNT_UP_TO, estimate)
    counts.exact = False
    return counts
