"""The SQL of the group commit (see ``commit.py``): the statement for each shape of
batch, built from the parts that batch needs, and the sequential path's steps."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from outlast.store.base import CommitBatch
from outlast.store.postgres.prepared import Statement
from outlast.store.postgres.rows import activity_values, instance_values, message_values
from outlast.store.postgres.statements import ACTIVITY_UPSERT, INSERT_ACTIVITIES, NOTIFY, XID
from outlast.store.sql import INSTANCE_COLUMNS, TERMINAL_SQL

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
