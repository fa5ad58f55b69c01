"""Rows in and out of the SQLite tables: records to parameter tuples and back, and
the compression of large payload values."""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Sequence
from typing import Any

from outlast.store.base import ActivityRecord, InstanceRecord, Message
from outlast.store.sql import INSTANCE_COLUMNS

# Payload-bearing values longer than this are stored zlib-compressed, as a BLOB in
# the same column: SQLite keeps such values in overflow pages, out of the B-tree
# pages that scans and replays walk, and compression shrinks what they read.
COMPRESS_OVER = 16 * 1024


def pack(text: str | None) -> str | bytes | None:
    if text is None or len(text) <= COMPRESS_OVER:
        return text
    return zlib.compress(text.encode(), 6)


def unpack(value: str | bytes | None) -> str | None:
    if isinstance(value, bytes):
        return zlib.decompress(value).decode()
    return value


def record_of(row: Sequence[Any]) -> InstanceRecord:
    r = InstanceRecord(*row)
    r.input = unpack(r.input)
    r.output = unpack(r.output)
    r.custom_status = unpack(r.custom_status)
    return r


INSERT_NEW_INSTANCE = (
    f"INSERT INTO instances ({INSTANCE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (instance_id) DO NOTHING"
)


def instance_row(r: InstanceRecord) -> tuple[Any, ...]:
    return (
        r.instance_id,
        r.name,
        r.status,
        r.execution_id,
        r.created_at,
        r.updated_at,
        pack(r.input),
        pack(r.output),
        pack(r.custom_status),
        r.failure,
        r.parent_instance_id,
        r.owner,
    )


def insert_messages(conn: sqlite3.Connection, messages: Sequence[Message]) -> None:
    if messages:
        conn.executemany(
            "INSERT INTO inbox (instance_id, execution_id, event, visible_at) VALUES (?, ?, ?, ?)",
            [(m.instance_id, m.execution_id, pack(m.event), m.visible_at) for m in messages],
        )


def insert_activities(conn: sqlite3.Connection, activities: Sequence[ActivityRecord]) -> None:
    if activities:
        conn.executemany(
            "INSERT OR REPLACE INTO activities "
            "(instance_id, task_id, execution_id, name, input, owner, attempt, options, "
            "limit_key, priority, queued_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    a.instance_id,
                    a.task_id,
                    a.execution_id,
                    a.name,
                    pack(a.input),
                    a.owner,
                    a.attempt,
                    a.options,
                    a.key,
                    a.priority,
                    a.queued_at,
                )
                for a in activities
            ],
        )


def activity_of(r: Sequence[Any]) -> ActivityRecord:
    """An activity from the columns (instance_id, execution_id, task_id, name,
    input, owner, attempt, options, limit_key, priority, queued_at)."""
    return ActivityRecord(r[0], r[1], r[2], r[3], unpack(r[4]), r[5], r[6], r[7], r[8], r[9], r[10])
