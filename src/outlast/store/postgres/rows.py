"""Records as JSON rows, and the SQL that reads them back.

Statements take their rows as one ``jsonb`` parameter instead of an array
parameter per column: one C call (orjson) encodes a whole batch, the parameter
types never vary (psycopg would pick ``int2[]`` or ``int8[]``, ``text[]`` or
``unknown`` from the values, and prepare a statement per combination), and a
statement can nest a turn's history, activities and messages inside the turn.

Each encoder here sits next to the SQL expression that decodes its output, so
the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from outlast.store.base import ActivityRecord, InstanceRecord, Message


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def message_row(m: Message) -> list[Any]:
    return [m.instance_id, m.execution_id, m.event, m.visible_at]


def message_rows(messages: Iterable[Message]) -> list[list[Any]]:
    return [[m.instance_id, m.execution_id, m.event, m.visible_at] for m in messages]


def message_values(alias: str) -> str:
    """The inbox columns (instance_id, execution_id, event, visible_at) of a message row."""
    return f"{alias}->>0, {alias}->>1, {alias}->>2, ({alias}->>3)::float8"


def written_owned(a: ActivityRecord, owned: tuple[str, frozenset[str]] | None) -> bool:
    """Whether :func:`activity_rows` writes ``a``, queued by its turn, owned by
    ``owned``'s worker (one of ``owned``'s names, unowned, queued)."""
    return owned is not None and a.owner is None and a.queued_at is not None and a.name in owned[1]


def activity_rows(
    activities: Iterable[ActivityRecord], owned: tuple[str, frozenset[str]] | None = None
) -> list[list[Any]]:
    """The rows as the statements read them; ``owned``: (worker, names) to write
    the queued rows of those names owned by that worker (see ``flow.py``)."""
    return [
        [a.instance_id, a.task_id, a.execution_id, a.name, a.input, a.owner, a.attempt, a.options]
        if a.queued_at is None and a.key is None and not a.priority
        else [
            a.instance_id,
            a.task_id,
            a.execution_id,
            a.name,
            a.input,
            owned[0] if owned is not None and written_owned(a, owned) else a.owner,
            a.attempt,
            a.options,
            a.key,
            a.priority,
            a.queued_at,
        ]
        for a in activities
    ]


def activity_values(alias: str) -> str:
    """The activity columns (instance_id, task_id, execution_id, name, input, owner,
    attempt, options, limit_key, priority, queued_at); a row without the last
    three (most) leaves them at their defaults."""
    a = alias
    return (
        f"{a}->>0, ({a}->>1)::integer, {a}->>2, {a}->>3, {a}->>4, {a}->>5, "
        f"coalesce(({a}->>6)::integer, 1), {a}->>7, {a}->>8, "
        f"coalesce(({a}->>9)::integer, 0), ({a}->>10)::float8"
    )


def instance_row(r: InstanceRecord) -> list[Any]:
    return [
        r.instance_id,
        r.name,
        r.status,
        r.execution_id,
        r.created_at,
        r.updated_at,
        r.input,
        r.output,
        r.custom_status,
        r.failure,
        r.parent_instance_id,
        r.owner,
    ]


def instance_values(alias: str) -> str:
    """The columns of ``sql.INSTANCE_COLUMNS``, in that order, of an instance row."""
    r = alias
    return (
        f"{r}->>0, {r}->>1, {r}->>2, {r}->>3, ({r}->>4)::float8, ({r}->>5)::float8, "
        f"{r}->>6, {r}->>7, {r}->>8, {r}->>9, {r}->>10, {r}->>11"
    )
