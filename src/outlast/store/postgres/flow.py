"""Admission of queued activities (``outlast.store.admission``) on PostgreSQL.

Admissions of one limit are serialized across processes by a transaction-level
advisory lock per limit name, taken (in name order) by its own statement: the
statements after it then see every admission committed before, since under
READ COMMITTED each statement reads a fresh snapshot. The queue is read
``FOR UPDATE SKIP LOCKED``: a row a concurrent commit is deleting (its instance
terminated) is passed over, not waited for.

A commit that admits writes the rows its turns queue already owned by its
worker, before it takes the locks (``owner_of_queued``), and its admission then
decides as if they were queued: counted out of the running rows, placed in line
by priority and queue time among the rows that wait, and those that do not fit
are put back in line. No other transaction sees them before that decision
commits, and every decision counts, under the lock, every admission committed
before it and its own rows: so the limits hold, and a limit that does not bind
costs no second write of each row. A commit's admission adds no round trip: its
locks and reads go down the pipeline behind the batch's statement, its updates
with the COMMIT (``Database.transact``'s ``then``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Sequence
from typing import Any

from psycopg import Cursor

from outlast.core.flow import Limit
from outlast.store import admission as adm
from outlast.store.base import ActivityRecord, CommitBatch
from outlast.store.postgres.connection import Conn, Database, Txn
from outlast.store.postgres.rows import written_owned
from outlast.store.postgres.statements import XID
from outlast.store.sql import ACTIVITY_COLUMNS

# The advisory lock's class (the first of its two int4 keys): "ol" in ASCII.
_LOCK_CLASS = 0x6F6C

_LOCK = "SELECT pg_advisory_xact_lock(%s, hashtext(%s))"
# What an admission reads, in one round trip: (0, key, running) rows, the rate
# window's (1, NULL, starts) row when the limit has a rate (entries older than the
# window are deleted on the way), and the queue as (2, key, task, instance,
# priority, queued_at) rows.
_READ = """
SELECT 0, limit_key, count(*), NULL, NULL::integer, NULL::float8 FROM outlast_activities
WHERE name = %(n)s AND owner IS NOT NULL AND queued_at IS NOT NULL GROUP BY limit_key
{rate}UNION ALL
(SELECT 2, limit_key, task_id, instance_id, priority, queued_at FROM outlast_activities
 WHERE name = %(n)s AND owner IS NULL AND queued_at IS NOT NULL
 ORDER BY priority DESC, queued_at, instance_id, task_id LIMIT %(depth)s)
"""
_RATE = """UNION ALL
SELECT 1, NULL, (SELECT count(*) FROM outlast_limit_starts
    WHERE name = %(n)s AND started_at > %(edge)s) + 0 * (SELECT count(*) FROM pruned),
    NULL, NULL, NULL
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
# A commit's own rows that its admission does not admit after all go back in line.
_DEMOTE = (
    "UPDATE outlast_activities SET owner = NULL WHERE (instance_id, task_id) IN "
    "(SELECT * FROM unnest(%s::text[], %s::integer[]))"
)
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


_READ_BACK = f"""
SELECT {ACTIVITY_COLUMNS} FROM outlast_activities
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
        self._takes: list[Cursor[Any]] = []
        self._own: list[ActivityRecord] = []
        self.chosen: list[adm.Queued] = []
        self.collected = False

    def choose(self, ours: Sequence[ActivityRecord] = ()) -> None:
        """Decide from the reads what to admit, and send its updates.

        ``ours``: the rows of limited activities the caller's commit wrote
        already owned by this worker (``queued_rows_owned``), in its
        transaction: the reads counted them as running. They are taken for
        queued, at their place in line, and those the limits do not admit go
        back in line: as if queued, then admitted, without writing every row of
        the common case (a limit that does not bind) twice."""
        conn, budget, now = self._conn, self._budget, self._now
        for limit, cursor in self._reads:
            rows = cursor.fetchall()
            mine = [a for a in ours if a.name == limit.name]
            if budget.spent and not mine:
                continue
            running: dict[str | None, int] = {}
            queue: list[tuple[tuple[int, float, str, int], adm.Queued]] = []
            started = 0
            for kind, key, n, instance_id, priority, queued_at in rows:
                if kind == 0:
                    running[key] = int(n)
                elif kind == 1:
                    started = int(n)
                else:
                    place = (-int(priority), float(queued_at), instance_id, int(n))
                    queue.append((place, adm.Queued(instance_id, int(n), key)))
            own: dict[tuple[str, int], ActivityRecord] = {}
            for a in mine:
                running[a.key] = running.get(a.key, 0) - 1
                own[(a.instance_id, a.task_id)] = a
                place = (-a.priority, a.queued_at or 0.0, a.instance_id, a.task_id)
                queue.append((place, adm.Queued(a.instance_id, a.task_id, a.key)))
            if mine:
                queue.sort(key=lambda e: e[0])
            running = {k: n for k, n in running.items() if n > 0}
            take = budget.quota(limit, sum(running.values()), started)
            chosen = adm.choose(limit, [q for _, q in queue], running, take)
            budget.spend(len(chosen))
            self.chosen += chosen
            picked = {(q.instance_id, q.task_id) for q in chosen}
            back = [a for place, a in own.items() if place not in picked]
            if back:
                ids = [a.instance_id for a in back]
                conn.execute(_DEMOTE, (ids, [a.task_id for a in back]))
            self._own += [
                dataclasses.replace(a, owner=self._worker) for p, a in own.items() if p in picked
            ]
            theirs = [q for q in chosen if (q.instance_id, q.task_id) not in own]
            if theirs:
                ids = [q.instance_id for q in theirs]
                tasks = [q.task_id for q in theirs]
                params = (adm.SLOT_OWNER, self._worker, ids, tasks)
                self._takes.append(conn.execute(_TAKE, params))
            slots = [q.instance_id for q in chosen if q.task_id == adm.SLOT_TASK]
            if slots:  # their parked starts go on now
                conn.execute(_UNPARK, (now, slots, now))
            if limit.rate is not None and chosen:
                conn.execute(_LOG, (limit.name, now, len(chosen)))

    def collect(self, txn: Txn | None = None) -> list[ActivityRecord]:
        """What the updates took, in the order chosen (``txn.xid`` set from them if
        given)."""
        admitted = list(self._own)
        for cursor in self._takes:
            for r in cursor.fetchall():
                admitted.append(ActivityRecord(*r[:11]))
                if txn is not None:
                    txn.xid = r[11]
        self.collected = True
        return adm.in_order(admitted, self.chosen, _place)

    def read_back(self, db: Database) -> list[ActivityRecord]:
        """What the updates took, read again: for a commit whose connection broke
        after its COMMIT went out, and which committed nonetheless."""
        if not self.chosen:
            return []
        ids = [q.instance_id for q in self.chosen]
        tasks = [q.task_id for q in self.chosen]
        rows = db.read(_READ_BACK, (ids, tasks, self._worker, adm.SLOT_OWNER))
        return adm.in_order([ActivityRecord(*r) for r in rows], self.chosen, _place)


def queued_rows_owned(batch: CommitBatch, rejected: Collection[str]) -> list[ActivityRecord]:
    """The rows a commit with an admission writes owned by its worker, though its
    turns queued them (``owner_of_queued``): those of the turns it applied."""
    owned = owner_of_queued(batch)
    if owned is None:
        return []
    return [
        r
        for t in batch.turns
        if t.instance_id not in rejected
        for r in t.activities
        if written_owned(r, owned)
    ]


def owner_of_queued(batch: CommitBatch) -> tuple[str, frozenset[str]] | None:
    """Who a commit writes the rows its turns queue owned by, and for which
    names: its worker when it admits them itself (``Admitting.choose``)."""
    a = batch.admission
    if a is None:
        return None
    return batch.worker_id, frozenset(limit.name for limit in a.limits)


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


# Whether any activity of the names waits in a queue (a read, first).
ANY_QUEUED = (
    "SELECT 1 FROM outlast_activities WHERE name = ANY(%s::text[]) "
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
