"""Admission of queued activities (``outlast.store.admission``) on SQLite: the write
transaction holds the database lock, which serializes admissions by itself."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence

from outlast.core.flow import Limit
from outlast.store import admission as adm
from outlast.store.base import ActivityRecord
from outlast.store.sql import ACTIVITY_COLUMNS
from outlast.store.sqlite.rows import activity_of

_RUNNING = (
    "SELECT limit_key, count(*) FROM activities "
    "WHERE name = ? AND owner IS NOT NULL AND queued_at IS NOT NULL GROUP BY limit_key"
)
_QUEUE = (
    "SELECT instance_id, task_id, limit_key FROM activities "
    "WHERE name = ? AND owner IS NULL AND queued_at IS NOT NULL "
    "ORDER BY priority DESC, queued_at, instance_id, task_id LIMIT ?"
)
_PRUNE = "DELETE FROM limit_starts WHERE name = ? AND started_at <= ?"
_STARTED = "SELECT count(*) FROM limit_starts WHERE name = ?"
# The chosen rows, in one statement (``{rows}``: a ``(?, ?)`` per row).
_TAKE = (
    "UPDATE activities SET owner = CASE WHEN task_id < 0 THEN ? ELSE ? END "
    "WHERE (instance_id, task_id) IN (VALUES {rows}) AND owner IS NULL "
    "RETURNING instance_id, task_id"
)
_TAKE_ALL = (
    "UPDATE activities SET owner = CASE WHEN task_id < 0 THEN ? ELSE ? END "
    "WHERE name = ? AND owner IS NULL AND queued_at IS NOT NULL "
    "RETURNING instance_id, task_id"
)
_READ_BACK = (
    f"SELECT {ACTIVITY_COLUMNS} FROM activities WHERE (instance_id, task_id) IN (VALUES {{rows}})"
)
# SQLite's default limit on a statement's parameters is 32766; stay well below.
_TAKE_CHUNK = 5000
_UNPARK = "UPDATE inbox SET visible_at = ? WHERE instance_id = ? AND visible_at > ?"
_UNPARK_ADMITTED = (
    "UPDATE inbox SET visible_at = ? WHERE visible_at > ? AND instance_id IN "
    "(SELECT instance_id FROM activities WHERE instance_id = ? AND task_id < 0 "
    "AND owner IS NOT NULL)"
)


def queue_slots(conn: sqlite3.Connection, slots: Sequence[ActivityRecord]) -> None:
    """Queue workflow slots not queued (or admitted) yet. A slot admitted already
    (another worker queued it, and it was admitted since this one looked) gets
    its start back, which this batch parked again."""
    conn.executemany(_UNPARK_ADMITTED, [(s.queued_at, s.queued_at, s.instance_id) for s in slots])
    conn.executemany(
        "INSERT OR IGNORE INTO activities (instance_id, task_id, execution_id, name, input, "
        "owner, attempt, options, limit_key, priority, queued_at) "
        "VALUES (?, ?, ?, ?, NULL, NULL, 1, NULL, ?, ?, ?)",
        [
            (s.instance_id, s.task_id, s.execution_id, s.name, s.key, s.priority, s.queued_at)
            for s in slots
        ],
    )


def admit(
    conn: sqlite3.Connection,
    worker_id: str,
    limits: Sequence[Limit],
    now: float,
    budget: adm.Budget,
    known: adm.Known | None = None,
) -> list[ActivityRecord]:
    """Admit queued activities of ``limits`` to ``worker_id`` (in the caller's
    write transaction). ``known``: rows the caller has (``admission.queued_in``)."""
    admitted: list[ActivityRecord] = []
    for limit in adm.by_name(limits):
        if budget.spent:
            break
        running = dict(conn.execute(_RUNNING, (limit.name,)).fetchall())
        started = 0
        if limit.rate is not None:
            conn.execute(_PRUNE, (limit.name, adm.window_start(limit, now)))
            started = conn.execute(_STARTED, (limit.name,)).fetchone()[0]
        take = budget.quota(limit, sum(running.values()), started)
        if take <= 0:
            continue
        depth = adm.queue_depth(limit, take)
        rows = conn.execute(_QUEUE, (limit.name, depth)).fetchall()
        chosen = adm.choose(limit, (adm.Queued(*r) for r in rows), running, take)
        budget.spend(len(chosen))
        taken: list[tuple[str, int]] = []
        if len(chosen) == len(rows) < depth:
            # The whole queue (the common case of a limit that does not bind): by
            # its index, not row by row.
            taken = conn.execute(_TAKE_ALL, (adm.SLOT_OWNER, worker_id, limit.name)).fetchall()
        for chunk, params in _chunks([] if taken else chosen):
            sql = _TAKE.format(rows=", ".join(["(?, ?)"] * len(chunk)))
            taken += conn.execute(sql, [adm.SLOT_OWNER, worker_id, *params]).fetchall()
        built, unknown = adm.admitted_from(chosen, taken, known or {}, worker_id)
        admitted += built
        read: list[ActivityRecord] = []
        for chunk, params in _chunks(unknown):
            sql = _READ_BACK.format(rows=", ".join(["(?, ?)"] * len(chunk)))
            read += [activity_of(r) for r in conn.execute(sql, params).fetchall()]
        admitted += adm.in_order(read, unknown, lambda a: (a.instance_id, a.task_id))
        for q in chosen:
            if q.task_id == adm.SLOT_TASK:  # its parked start goes on now
                conn.execute(_UNPARK, (now, q.instance_id, now))
        if limit.rate is not None and chosen:
            conn.executemany(
                "INSERT INTO limit_starts (name, started_at) VALUES (?, ?)",
                [(limit.name, now)] * len(chosen),
            )
    return admitted


def _chunks(rows: Sequence[adm.Queued]) -> Iterator[tuple[Sequence[adm.Queued], list[object]]]:
    for start in range(0, len(rows), _TAKE_CHUNK):
        chunk = rows[start : start + _TAKE_CHUNK]
        params: list[object] = []
        for q in chunk:
            params += (q.instance_id, q.task_id)
        yield chunk, params
