"""The group commit: a whole ``CommitBatch`` as one statement.

The batch goes to the server as one ``jsonb`` document, ``%(b)s``::

    {"t": [turn row], "f": [[instance, task]], "d": [message id],
     "m": [message row], "r": [[message id, visible_at]]}

(empty keys left out). One statement then does everything: it locks the turns'
instance rows in instance-ID order (two batches that share instances queue
instead of deadlocking), applies each turn's conditional ``UPDATE`` (this
execution, owned by nobody or by me, not finished), and writes only what the
accepted turns imply (``done``): history, consumed messages, activities, new
messages; rejected turns write their fallback messages instead. It returns the
transaction ID, for the commit-outcome check, and the rejected instance IDs.
With the ``COMMIT`` that is two round trips, whatever the size of the batch.

The statement holds only the parts the batch needs (a sub-statement over
nothing still costs its executor's start-up and its plan nodes): it is built
once per shape of batch, which kinds of rows it has, and prepared per
connection. A worker's batches come in a handful of shapes.

Sub-statements of one statement cannot see each other's writes and run in no
promised order, so the single statement may only combine writes whose result
does not depend on their order. Where the sequential order mattered, the
statement says what the sequence would have left:
- a message rescheduled and also deleted (dropped, consumed, or cleared by a
  continue-as-new) stays deleted, so such IDs are left out of the reschedule;
- batch messages addressed to an execution of an instance that continues as
  new would have been cleared with its inbox, so they are not inserted;
- an activity both finished and scheduled again ends up scheduled either way
  (the upsert wins over the delete of the row version it replaced).
Two things do depend on order, and take the sequential path (``PRE`` then one
statement per step): turns that start child instances (a finished instance
with the child's ID is deleted before the child is inserted, and whether the
insert conflicts decides which message is sent), and a continue-as-new turn
that also appends history (its old history must be gone before the insert).

There is no SAVEPOINT per turn: a rejected turn writes nothing, and hundreds of
subtransactions a batch would overflow PostgreSQL's per-backend subtransaction
cache, which slows every snapshot on the server. An error in any statement
(such as a history sequence number that is already taken) rolls the whole
batch back, as on SQLite.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from outlast.store.base import ChildStart, CommitBatch, Message, TurnWrite
from outlast.store.postgres.connection import Conn
from outlast.store.postgres.prepared import Statement
from outlast.store.postgres.rows import (
    activity_rows,
    activity_values,
    dumps,
    instance_row,
    instance_values,
    message_rows,
    message_values,
)
from outlast.store.postgres.statements import ACTIVITY_UPSERT, INSERT_ACTIVITIES, NOTIFY, SEND, XID
from outlast.store.sql import INSTANCE_COLUMNS, TERMINAL_SQL


def turn_row(t: TurnWrite, worker_id: str) -> list[Any]:
    """A turn as the ``t`` CTE of the statements below reads it."""
    u = t.update
    return [
        t.instance_id,
        t.execution_id,
        u.status,
        u.updated_at,
        u.output,
        u.failure,
        u.new_execution_id or t.execution_id,
        None if u.release else worker_id,
        u.set_custom_status,
        u.custom_status,
        u.new_execution_id is not None,
        u.new_input,
        t.reset_history,
        t.consumed,
        t.history_start,
        t.history,
        activity_rows(t.activities),
        message_rows(t.messages),
        message_rows(t.fallback),
    ]


_TURNS = """
t AS (
    SELECT r->>0 AS instance_id, r->>1 AS execution_id, r->>2 AS status,
        (r->>3)::float8 AS updated_at, r->>4 AS output, r->>5 AS failure,
        r->>6 AS next_execution, r->>7 AS owner, (r->>8)::boolean AS set_custom_status,
        r->>9 AS custom_status, (r->>10)::boolean AS set_input, r->>11 AS input,
        (r->>12)::boolean AS reset, r->13 AS consumed, (r->>14)::integer AS history_start,
        r->15 AS history, r->16 AS activities, r->17 AS messages, r->18 AS fallback, n
    FROM jsonb_array_elements(%(b)s::jsonb -> 't') WITH ORDINALITY AS x(r, n)
)"""

# The conditional UPDATE would lock rows in whatever order its join visits them,
# and two batches sharing instances could deadlock (each then waits out
# deadlock_timeout before one is retried). So the rows of a batch of several
# turns are locked first in one global order: ``locked`` walks the sorted IDs
# and locks each row by its key (a lateral subquery runs once per ID, in order,
# and by the primary key even where the planner would rather scan a small
# table), and a row is updated only once it has been through ``locked``,
# whatever plan the join gets. One row needs no order: its UPDATE locks it.
#
# The rows these statements touch are found through ``= ANY(ARRAY(...))``, which
# the planner sizes as a few keys and looks up by index, where a join with a
# JSON function (which it sizes at 100 rows) would often scan the whole table.
_LOCK = """
locked AS MATERIALIZED (
    SELECT l.instance_id
    FROM unnest(ARRAY(SELECT instance_id FROM t ORDER BY instance_id)) AS k(id)
    CROSS JOIN LATERAL (
        SELECT instance_id FROM outlast_instances WHERE instance_id = k.id FOR UPDATE
    ) l
)"""

_APPLY_TEMPLATE = f"""
ok AS (
    UPDATE outlast_instances i SET status = t.status, updated_at = t.updated_at,
        output = t.output, failure = t.failure, execution_id = t.next_execution,
        owner = t.owner,
        custom_status = CASE WHEN t.set_custom_status THEN t.custom_status
            ELSE i.custom_status END,
        input = CASE WHEN t.set_input THEN t.input ELSE i.input END
    FROM t
    WHERE i.instance_id = t.instance_id
        AND i.instance_id = ANY(ARRAY(SELECT instance_id FROM {{rows}}))
        AND i.execution_id = t.execution_id
        AND (i.owner IS NULL OR i.owner = %(w)s)
        AND i.status NOT IN {TERMINAL_SQL}
    RETURNING t.n
), done AS (
    SELECT * FROM t WHERE n IN (SELECT n FROM ok)
)"""
_APPLY = _LOCK + "," + _APPLY_TEMPLATE.format(rows="locked")
_APPLY_ONE = _APPLY_TEMPLATE.format(rows="t")

# The accepted turns as decided by an earlier statement of the transaction.
_DONE_GIVEN = """
done AS (
    SELECT * FROM t WHERE n IN (SELECT jsonb_array_elements_text(%(ok)s::jsonb)::bigint)
)"""

_FINISHED = """
finished AS (
    DELETE FROM outlast_activities a USING jsonb_array_elements(%(b)s::jsonb -> 'f') f
    WHERE a.instance_id = ANY(ARRAY(
            SELECT jsonb_array_elements(%(b)s::jsonb -> 'f') ->> 0))
        AND a.instance_id = f->>0 AND a.task_id = (f->>1)::integer
)"""

_DROPPED = """
dropped AS (
    DELETE FROM outlast_inbox
    WHERE id = ANY(ARRAY(SELECT jsonb_array_elements_text(%(b)s::jsonb -> 'd')::bigint))
)"""

_DROPPED_IDS = "SELECT jsonb_array_elements_text(%(b)s::jsonb -> 'd')::bigint"
_CONSUMED_IDS = "SELECT jsonb_array_elements_text(consumed)::bigint FROM done"
_RESET_IDS = "SELECT instance_id FROM done WHERE reset"


def _rescheduled(*, dropped: bool, consumed: bool, reset: bool) -> str:
    unless = ""
    if dropped:
        unless += f"\n        AND m.id NOT IN ({_DROPPED_IDS})"
    if consumed:
        unless += f"\n        AND m.id NOT IN ({_CONSUMED_IDS})"
    if reset:
        unless += (
            f"\n        AND NOT (m.execution_id IS NOT NULL AND m.instance_id IN ({_RESET_IDS}))"
        )
    return f"""
rescheduled AS (
    UPDATE outlast_inbox m SET visible_at = (r->>1)::float8
    FROM jsonb_array_elements(%(b)s::jsonb -> 'r') r
    WHERE m.id = ANY(ARRAY(SELECT (jsonb_array_elements(%(b)s::jsonb -> 'r') ->> 0)::bigint))
        AND m.id = (r->>0)::bigint{unless}
)"""


# Continue-as-new: the old run's history, pending activities and the messages
# addressed to it go.
_RESET_WRITES = f"""
reset_history AS (
    DELETE FROM outlast_history WHERE instance_id = ANY(ARRAY({_RESET_IDS}))
), reset_activities AS (
    DELETE FROM outlast_activities WHERE instance_id = ANY(ARRAY({_RESET_IDS}))
), reset_inbox AS (
    DELETE FROM outlast_inbox
    WHERE instance_id = ANY(ARRAY({_RESET_IDS})) AND execution_id IS NOT NULL
)"""

_CONSUMED = f"""
consumed AS (
    DELETE FROM outlast_inbox WHERE id = ANY(ARRAY({_CONSUMED_IDS}))
)"""

_HISTORY = """
history AS (
    INSERT INTO outlast_history (instance_id, seq, event)
    SELECT d.instance_id, d.history_start + e.n - 1, e.event
    FROM done d, jsonb_array_elements_text(d.history) WITH ORDINALITY AS e(event, n)
)"""

_ACTIVITIES = f"""
activities AS (
    {INSERT_ACTIVITIES}
    SELECT {activity_values("a")} FROM done d, jsonb_array_elements(d.activities) a
    {ACTIVITY_UPSERT}
)"""


def _messages(*, batch: bool, reset: bool, turns: bool, fallbacks: bool) -> str:
    """One insert of every new message: the batch's first, then each turn's in turn
    order (message IDs follow)."""
    sources = []
    if batch:
        # What a continue-as-new would have cleared from the inbox is not sent.
        unless = f"\n        WHERE NOT (x.m->>1 IS NOT NULL AND x.m->>0 IN ({_RESET_IDS}))"
        sources.append(
            "SELECT 0 AS turn, x.n AS n, x.m AS m\n"
            "        FROM jsonb_array_elements(%(b)s::jsonb -> 'm') WITH ORDINALITY AS x(m, n)"
            + (unless if reset else "")
        )
    if turns:
        sources.append(
            "SELECT d.n AS turn, x.n AS n, x.m AS m\n"
            "        FROM done d, jsonb_array_elements(d.messages) WITH ORDINALITY AS x(m, n)"
        )
    if fallbacks:
        sources.append(
            "SELECT t.n AS turn, x.n AS n, x.m AS m\n"
            "        FROM t, jsonb_array_elements(t.fallback) WITH ORDINALITY AS x(m, n)\n"
            "        WHERE t.n NOT IN (SELECT n FROM ok)"
        )
    union = "\n        UNION ALL\n        ".join(sources)
    return f"""
messages AS (
    INSERT INTO outlast_inbox (instance_id, execution_id, event, visible_at)
    SELECT {message_values("s.m")} FROM (
        {union}
    ) s
    ORDER BY s.turn, s.n
)"""


def _with(*parts: str) -> str:
    return "WITH " + ",".join(parts) if parts else ""


@dataclass(frozen=True, slots=True)
class Shape:
    """Which kinds of rows a batch has: what its statement must hold."""

    turns: bool = False
    several_turns: bool = False
    finished: bool = False
    dropped: bool = False
    rescheduled: bool = False
    batch_messages: bool = False
    reset: bool = False
    consumed: bool = False
    history: bool = False
    activities: bool = False
    turn_messages: bool = False
    fallbacks: bool = False
    # Needs the sequential path: children, or a continue-as-new with history.
    in_steps: bool = False


def shape_of(batch: CommitBatch) -> Shape:
    reset = consumed = history = activities = messages = fallbacks = in_steps = False
    for t in batch.turns:
        reset = reset or t.reset_history
        consumed = consumed or bool(t.consumed)
        history = history or bool(t.history)
        activities = activities or bool(t.activities)
        messages = messages or bool(t.messages)
        fallbacks = fallbacks or bool(t.fallback)
        in_steps = in_steps or bool(t.children) or (t.reset_history and bool(t.history))
    return Shape(
        turns=bool(batch.turns),
        several_turns=len(batch.turns) > 1,
        finished=bool(batch.finished_activities),
        dropped=bool(batch.dropped_messages),
        rescheduled=bool(batch.rescheduled),
        batch_messages=bool(batch.messages),
        reset=reset,
        consumed=consumed,
        history=history,
        activities=activities,
        turn_messages=messages,
        fallbacks=fallbacks,
        in_steps=in_steps,
    )


@functools.cache
def one_statement(shape: Shape) -> Statement:
    """The statement that applies a batch of this shape. %(b)s the batch, %(w)s the
    worker, %(n)s the notification payload or NULL."""
    s = shape
    parts = [_TURNS, _APPLY if s.several_turns else _APPLY_ONE] if s.turns else []
    parts += _batch_parts(s)
    if s.reset:
        parts.append(_RESET_WRITES)
    parts += _turn_parts(s)
    if s.batch_messages or s.turn_messages or s.fallbacks:
        parts.append(
            _messages(
                batch=s.batch_messages, reset=s.reset, turns=s.turn_messages, fallbacks=s.fallbacks
            )
        )
    rejected = (
        "ARRAY(SELECT instance_id FROM t WHERE n NOT IN (SELECT n FROM ok))"
        if s.turns
        else "ARRAY[]::text[]"
    )
    return Statement(_with(*parts) + f"\nSELECT {XID}, {rejected}, {NOTIFY}\n")


def _batch_parts(s: Shape) -> list[str]:
    parts = []
    if s.finished:
        parts.append(_FINISHED)
    if s.dropped:
        parts.append(_DROPPED)
    if s.rescheduled:
        parts.append(_rescheduled(dropped=s.dropped, consumed=s.consumed, reset=s.reset))
    return parts


def _turn_parts(s: Shape) -> list[str]:
    parts = []
    if s.consumed:
        parts.append(_CONSUMED)
    if s.history:
        parts.append(_HISTORY)
    if s.activities:
        parts.append(_ACTIVITIES)
    return parts


# The sequential path, one statement per step, in the order the steps had when
# they were all separate statements. First what comes before the turns' own
# writes; it returns the accepted turns.
PRE = Statement(
    _with(
        _TURNS,
        _APPLY,
        _FINISHED,
        _DROPPED,
        _rescheduled(dropped=True, consumed=True, reset=True),
        _messages(batch=True, reset=False, turns=False, fallbacks=False),
    )
    + f"\nSELECT {XID}, ARRAY(SELECT n FROM ok)\n"
)
RESET = Statement(_with(_TURNS, _DONE_GIVEN, _RESET_WRITES) + "\nSELECT 1\n")
TURN_WRITES = Statement(
    _with(_TURNS, _DONE_GIVEN, _CONSUMED, _HISTORY, _ACTIVITIES) + "\nSELECT 1\n"
)

# %(ids)s: the IDs of children about to be created. A finished instance with one
# of them gives way; an unfinished one stays and makes that child a conflict.
CLEAR_FINISHED = Statement(f"""
WITH gone AS (
    DELETE FROM outlast_instances
    WHERE instance_id = ANY(%(ids)s::text[]) AND status IN {TERMINAL_SQL}
    RETURNING instance_id
), history AS (
    DELETE FROM outlast_history WHERE instance_id = ANY(ARRAY(SELECT instance_id FROM gone))
), inbox AS (
    DELETE FROM outlast_inbox WHERE instance_id = ANY(ARRAY(SELECT instance_id FROM gone))
), activities AS (
    DELETE FROM outlast_activities
    WHERE instance_id = ANY(ARRAY(SELECT instance_id FROM gone))
)
SELECT count(*) FROM gone
""")

# %(c)s: [instance row], distinct IDs. Returns the IDs that were free.
INSERT_CHILDREN = Statement(f"""
INSERT INTO outlast_instances ({INSTANCE_COLUMNS})
SELECT {instance_values("c")} FROM jsonb_array_elements(%(c)s::jsonb) AS c
ON CONFLICT (instance_id) DO NOTHING
RETURNING instance_id
""")


def batch_document(batch: CommitBatch) -> str:
    doc: dict[str, Any] = {}
    if batch.turns:
        doc["t"] = [turn_row(t, batch.worker_id) for t in batch.turns]
    if batch.finished_activities:
        doc["f"] = batch.finished_activities
    if batch.dropped_messages:
        doc["d"] = batch.dropped_messages
    if batch.messages:
        doc["m"] = message_rows(batch.messages)
    if batch.rescheduled:
        # A message rescheduled twice keeps the later time, as if one after the other.
        doc["r"] = list(dict(batch.rescheduled).items())
    return dumps(doc)


def check_turns(turns: list[TurnWrite]) -> None:
    ids = {t.instance_id for t in turns}
    if len(ids) != len(turns):
        raise ValueError("a batch carries at most one turn per instance")


def commit_params(batch: CommitBatch, notify: str | None) -> dict[str, Any]:
    """The parameters of the statements above; ``notify`` is the payload or None."""
    return {"b": batch_document(batch), "w": batch.worker_id, "n": notify}


def commit_in_one(conn: Conn, shape: Shape, params: dict[str, Any]) -> tuple[str, set[str]]:
    """Apply the batch with one statement; its transaction ID and the rejected
    instances."""
    row = one_statement(shape).run(conn, params, params["b"]).fetchone()
    assert row is not None
    return row[0], set(row[1])


def commit_in_steps(
    conn: Conn, batch: CommitBatch, params: dict[str, Any], on_xid: Callable[[str], None]
) -> set[str]:
    """The sequential path, for batches that create children (a round trip more)
    or continue as new with history. ``on_xid`` gets the transaction ID as soon as
    it is known."""
    doc = params["b"]
    row = PRE.run(conn, params, doc).fetchone()
    assert row is not None
    on_xid(row[0])
    accepted = {int(n) - 1 for n in row[1]}
    turns = batch.turns
    given = {**params, "ok": dumps([n + 1 for n in sorted(accepted)])}
    if any(turns[n].reset_history for n in accepted):
        RESET.run(conn, given, doc)
    TURN_WRITES.run(conn, given, doc)
    created = iter(_create_children(conn, [turns[n] for n in sorted(accepted)]))
    messages: list[Message] = []
    for n, turn in enumerate(turns):
        if n in accepted:
            messages.extend(
                child.start if next(created) else child.on_conflict for child in turn.children
            )
            messages.extend(turn.messages)
        else:
            messages.extend(turn.fallback)
    sent = dumps(message_rows(messages))
    SEND.run(conn, {"m": sent, "n": params["n"]}, sent)
    return {t.instance_id for n, t in enumerate(turns) if n not in accepted}


def _create_children(conn: Conn, turns: list[TurnWrite]) -> list[bool]:
    """Create the children of accepted turns; for each, in order, whether it was
    created rather than refused because its ID is taken by an unfinished
    instance (even one created by a concurrent transaction). As when they were
    created one after the other, a later child with the ID of an earlier one in
    the batch is refused."""
    children: list[ChildStart] = [c for t in turns for c in t.children]
    if not children:
        return []
    first: dict[str, ChildStart] = {}
    for child in children:
        first.setdefault(child.record.instance_id, child)
    ids = list(first)
    CLEAR_FINISHED.run(conn, {"ids": ids})
    records = dumps([instance_row(c.record) for c in first.values()])
    rows = INSERT_CHILDREN.run(conn, {"c": records}, records).fetchall()
    free = {r[0] for r in rows}
    return [c.record.instance_id in free and first[c.record.instance_id] is c for c in children]
