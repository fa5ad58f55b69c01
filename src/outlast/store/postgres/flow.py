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
from typing import Any

from psycopg import Cursor

from outlast.core.flow import Limit
from outlast.store import admission as adm
from outlast.store.base import ActivityRecord
from outlast.store.postgres.connection import Conn, Database, Txn
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


_READ_BACK = """
SELECT instance_id, execution_id, task_id, name, input, owner, attempt, options,
    limit_key, priority, queued_at FROM outlast_activities
WHERE (instance_id, task_id) IN (SELECT * FROM unnest(%s::text[], %s::integer[]))
    AND owner IN (%s, %s)
"""


class Admitting:
    """An admission sent down a pipeline in three steps, none of which waits for
    an answer by itself: so a commit's admission rides on the commit's own round
    trips (its statement, then its COMMIT) instead of adding its own.

    ``Admitting(...)`` sends the locks and the reads; :meth:`choose` reads their
    answers (the first wait, shared with whatever was sent before) and sends the
    updates; :meth:`collect` reads what they took (the second, which may share
    the COMMIT's round trip when the COMMIT is sent before it)."""

    def __init__(
        self, conn: Conn, worker_id: str, limits: Sequence[Limit], now: float, budget: adm.Budget
    ) -> None:
        self._conn = conn
        self._worker = worker_id
        self._now = now
        self._budget = budget
        ordered = adm.by_name(limits)
        for limit in ordered:
            conn.execute(_LOCK, (_LOCK_CLASS, limit.name))
        # All reads at once, each as deep as the whole budget could take of its
        # limit (a later limit may read more than is left for it: choose() stops).
        self._reads: list[tuple[Limit, Cursor[Any]]] = []
        for limit in ordered:
            params = {"n": limit.name, "depth": adm.queue_depth(limit, budget.most(limit))}
            if limit.rate is not None:
                params["edge"] = adm.window_start(limit, now)
            read = _READ_PLAIN if limit.rate is None else _READ_RATED
            self._reads.append((limit, conn.execute(read, params)))
        self._takes: list[tuple[list[adm.Queued], Cursor[Any]]] = []
        self.chosen: list[adm.Queued] = []
        self.collected = False

    def choose(self) -> None:
        """Decide from the reads what to admit, and send its updates."""
        conn, budget, now = self._conn, self._budget, self._now
        for limit, cursor in self._reads:
            rows = cursor.fetchall()
            if budget.spent:
                continue
            running: dict[str | None, int] = {}
            queue: list[adm.Queued] = []
            started = 0
            for kind, key, n, instance_id in rows:
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
            self.chosen += chosen
            ids = [q.instance_id for q in chosen]
            tasks = [q.task_id for q in chosen]
            params = (adm.SLOT_OWNER, self._worker, ids, tasks)
            self._takes.append((chosen, conn.execute(_TAKE, params)))
            slots = [q.instance_id for q in chosen if q.task_id == adm.SLOT_TASK]
            if slots:  # their parked starts go on now
                conn.execute(_UNPARK, (now, slots, now))
            if limit.rate is not None:
                conn.execute(_LOG, (limit.name, now, len(chosen)))

    def collect(self, txn: Txn | None = None) -> list[ActivityRecord]:
        """What the updates took, in the order chosen (``txn.xid`` set from them if
        given)."""
        admitted: list[ActivityRecord] = []
        for chosen, cursor in self._takes:
            taken = []
            for r in cursor.fetchall():
                taken.append(ActivityRecord(*r[:11]))
                if txn is not None:
                    txn.xid = r[11]
            admitted += adm.in_order(taken, chosen, _place)
        self.collected = True
        return admitted

    def read_back(self, db: Database) -> list[ActivityRecord]:
        """What the updates took, read again: for a commit whose connection broke
        after its COMMIT went out, and which committed nonetheless."""
        if not self.chosen:
            return []
        ids = [q.instance_id for q in self.chosen]
        tasks = [q.task_id for q in self.chosen]
        rows = db.read(_READ_BACK, (ids, tasks, self._worker, adm.SLOT_OWNER))
        return adm.in_order([ActivityRecord(*r) for r in rows], self.chosen, _place)


def _place(a: ActivityRecord) -> tuple[str, int]:
    return (a.instance_id, a.task_id)


def admit(
    conn: Conn,
    txn: Txn,
    worker_id: str,
    limits: Sequence[Limit],
    now: float,
    budget: adm.Budget,
) -> list[ActivityRecord]:
    """Admit queued activities of ``limits`` to ``worker_id`` in the caller's
    transaction (``txn.xid`` is set once it writes), waiting for each answer."""
    admitting = Admitting(conn, worker_id, limits, now, budget)
    admitting.choose()
    return admitting.collect(txn)


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
