"""Admission of queued activities (``outlast.store.admission``) on PostgreSQL.

Admissions of one limit are serialized across processes by a transaction-level
advisory lock per limit name, taken (in name order) by its own statement: the
statements after it then see every admission committed before, since under
READ COMMITTED each statement reads a fresh snapshot. The queue is read
``FOR UPDATE SKIP LOCKED``: a row a concurrent commit is deleting (its instance
terminated) is passed over, not waited for.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from outlast.core.flow import Limit
from outlast.store import admission as adm
from outlast.store.base import ActivityRecord
from outlast.store.postgres.connection import Conn, Txn
from outlast.store.postgres.statements import XID

# The advisory lock's class (the first of its two int4 keys): "ol" in ASCII.
_LOCK_CLASS = 0x6F6C

_LOCK = "SELECT pg_advisory_xact_lock(%s, hashtext(%s))"
# What an admission reads, in one round trip: (0, key, running) rows, the rate
# window's (1, NULL, starts) row when the limit has a rate (entries older than the
# window are deleted on the way), and the queue as (2, key, task, instance) rows.
_READ = """
SELECT 0, limit_key, count(*), NULL FROM outlast_activities
WHERE name = %(n)s AND owner IS NOT NULL AND queued_at IS NOT NULL GROUP BY limit_key
{rate}UNION ALL
(SELECT 2, limit_key, task_id, instance_id FROM outlast_activities
 WHERE name = %(n)s AND owner IS NULL AND queued_at IS NOT NULL
 ORDER BY priority DESC, queued_at, instance_id, task_id LIMIT %(depth)s)
"""
_RATE = """UNION ALL
SELECT 1, NULL, (SELECT count(*) FROM outlast_limit_starts
    WHERE name = %(n)s AND started_at > %(edge)s) + 0 * (SELECT count(*) FROM pruned), NULL
"""
_PRUNED = (
    "WITH pruned AS (DELETE FROM outlast_limit_starts "
    "WHERE name = %(n)s AND started_at <= %(edge)s RETURNING 1)"
)
_READ_PLAIN = _READ.format(rate="")
_READ_RATED = _PRUNED + _READ.format(rate=_RATE)
# The chosen rows; one a concurrent commit is deleting (its instance ended) is
# passed over rather than waited for.
_TAKE = f"""
UPDATE outlast_activities a SET owner = CASE WHEN a.task_id < 0 THEN %s ELSE %s END
FROM (
    SELECT instance_id, task_id FROM outlast_activities
    WHERE (instance_id, task_id) IN (SELECT * FROM unnest(%s::text[], %s::integer[]))
        AND owner IS NULL
    FOR UPDATE SKIP LOCKED
) t
WHERE a.instance_id = t.instance_id AND a.task_id = t.task_id
RETURNING a.instance_id, a.execution_id, a.task_id, a.name, a.input, a.owner, a.attempt,
    a.options, a.limit_key, a.priority, a.queued_at, {XID}
"""
_UNPARK = (
    "UPDATE outlast_inbox SET visible_at = %s "
    "WHERE instance_id = ANY(%s::text[]) AND visible_at > %s"
)
_QUEUE_SLOTS = (
    "INSERT INTO outlast_activities (instance_id, task_id, execution_id, name, owner, "
    "limit_key, priority, queued_at) "
    "SELECT s->>0, (s->>1)::integer, s->>2, s->>3, NULL, s->>4, (s->>5)::integer, "
    "(s->>6)::float8 FROM jsonb_array_elements(%s::jsonb) s "
    "ON CONFLICT (instance_id, task_id) DO NOTHING"
)
_UNPARK_ADMITTED = """
UPDATE outlast_inbox m SET visible_at = (s->>6)::float8
FROM jsonb_array_elements(%s::jsonb) s, outlast_activities a
WHERE m.instance_id = s->>0 AND m.visible_at > (s->>6)::float8
    AND a.instance_id = s->>0 AND a.task_id < 0 AND a.owner IS NOT NULL
"""
_LOG = (
    "INSERT INTO outlast_limit_starts (name, started_at) SELECT %s, %s FROM generate_series(1, %s)"
)


def admit(
    conn: Conn,
    txn: Txn,
    worker_id: str,
    limits: Sequence[Limit],
    now: float,
    budget: adm.Budget,
) -> list[ActivityRecord]:
    """Admit queued activities of ``limits`` to ``worker_id`` in the caller's
    transaction (``txn.xid`` is set once it writes)."""
    admitted: list[ActivityRecord] = []
    ordered = adm.by_name(limits)
    for limit in ordered:
        conn.execute(_LOCK, (_LOCK_CLASS, limit.name))
    for limit in ordered:
        if budget.spent:
            break
        params = {"n": limit.name, "depth": adm.queue_depth(limit, budget.most(limit))}
        if limit.rate is not None:
            params["edge"] = adm.window_start(limit, now)
        read = _READ_PLAIN if limit.rate is None else _READ_RATED
        running: dict[str | None, int] = {}
        queue: list[adm.Queued] = []
        started = 0
        for kind, key, n, instance_id in conn.execute(read, params).fetchall():
            if kind == 0:
                running[key] = int(n)
            elif kind == 1:
                started = int(n)
            else:
                queue.append(adm.Queued(instance_id, int(n), key))
        take = budget.quota(limit, sum(running.values()), started)
        chosen = adm.choose(limit, queue, running, take)
        if not chosen:
            continue
        budget.spend(len(chosen))
        ids = [q.instance_id for q in chosen]
        tasks = [q.task_id for q in chosen]
        taken = []
        for r in conn.execute(_TAKE, (adm.SLOT_OWNER, worker_id, ids, tasks)).fetchall():
            taken.append(ActivityRecord(*r[:11]))
            txn.xid = r[11]
        admitted += adm.in_order(taken, chosen, lambda a: (a.instance_id, a.task_id))
        slots = [q.instance_id for q in chosen if q.task_id == adm.SLOT_TASK]
        if slots:  # their parked starts go on now
            conn.execute(_UNPARK, (now, slots, now))
        if limit.rate is not None:
            conn.execute(_LOG, (limit.name, now, len(chosen)))
    return admitted


def any_queued_sql(count: int) -> str:
    """Whether any activity of ``count`` names waits in a queue (a read, first)."""
    marks = ", ".join(["%s"] * count)
    return (
        f"SELECT 1 FROM outlast_activities WHERE name IN ({marks}) "
        "AND owner IS NULL AND queued_at IS NOT NULL LIMIT 1"
    )


def queue_slots(conn: Conn, slots: Sequence[ActivityRecord]) -> None:
    """Queue workflow slots not queued (or admitted) yet. A slot admitted already
    (another worker queued it, and it was admitted since this one looked) gets
    its start back, which this batch parked again."""
    rows = [
        [s.instance_id, s.task_id, s.execution_id, s.name, s.key, s.priority, s.queued_at]
        for s in slots
    ]
    doc = json.dumps(rows)
    conn.execute(_UNPARK_ADMITTED, (doc,))
    conn.execute(_QUEUE_SLOTS, (doc,))
