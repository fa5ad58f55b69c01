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

from collections.abc import Callable
from typing import Any

from outlast.store.base import ChildStart, CommitBatch, Message, TurnWrite
from outlast.store.postgres.commit_sql import (
    CLEAR_FINISHED,
    INSERT_CHILDREN,
    PRE,
    RESET,
    TURN_WRITES,
    Shape,
    one_statement,
)
from outlast.store.postgres.connection import Conn
from outlast.store.postgres.flow import owner_of_queued
from outlast.store.postgres.rows import (
    activity_rows,
    dumps,
    instance_row,
    message_rows,
)
from outlast.store.postgres.statements import SEND


def turn_row(
    t: TurnWrite, worker_id: str, owned: tuple[str, frozenset[str]] | None = None
) -> list[Any]:
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
        activity_rows(t.activities, owned),
        message_rows(t.messages),
        message_rows(t.fallback),
    ]


def batch_document(batch: CommitBatch) -> str:
    doc: dict[str, Any] = {}
    if batch.turns:
        owned = owner_of_queued(batch)
        doc["t"] = [turn_row(t, batch.worker_id, owned) for t in batch.turns]
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


def commit_in_one(
    conn: Conn, shape: Shape, params: dict[str, Any], send_more: Callable[[], None]
) -> tuple[str, set[str]]:
    """Apply the batch with one statement; its transaction ID and the rejected
    instances. ``send_more`` sends statements to run after it, before its answer
    is waited for (they share its round trip)."""
    cursor = one_statement(shape).run(conn, params, params["b"])
    send_more()
    row = cursor.fetchone()
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
