"""A worker's batch commit: which turns may commit, and every accepted turn's rows
written one statement per kind of row for the whole batch."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from outlast.core.status import TERMINAL_STATUSES
from outlast.store.base import CommitBatch, InstanceUpdate, TurnWrite
from outlast.store.sql import INSTANCE_COLUMNS
from outlast.store.sqlite.rows import insert_activities, insert_messages, instance_row, pack


def commit_batch(conn: sqlite3.Connection, batch: CommitBatch) -> set[str]:
    """Apply ``batch`` (in the caller's transaction); return the rejected instances."""
    rejected: set[str] = set()
    if batch.finished_activities:
        conn.executemany(
            "DELETE FROM activities WHERE instance_id = ? AND task_id = ?",
            batch.finished_activities,
        )
    if batch.dropped_messages:
        conn.executemany("DELETE FROM inbox WHERE id = ?", [(i,) for i in batch.dropped_messages])
    insert_messages(conn, batch.messages)
    if batch.rescheduled:
        conn.executemany(
            "UPDATE inbox SET visible_at = ? WHERE id = ?",
            [(at, mid) for mid, at in batch.rescheduled],
        )
    accepted = claimable(conn, batch.worker_id, batch.turns)
    for turn in batch.turns:
        if turn.instance_id not in accepted:
            rejected.add(turn.instance_id)
            insert_messages(conn, turn.fallback)
    apply_turns(
        conn,
        batch.worker_id,
        [t for t in batch.turns if t.instance_id in accepted],
        accepted,
    )
    return rejected


def delete_instances(conn: sqlite3.Connection, ids: Sequence[str]) -> None:
    params = [(i,) for i in ids]
    for table in ("history", "inbox", "activities", "instances"):
        conn.executemany(f"DELETE FROM {table} WHERE instance_id = ?", params)


def claimable(
    conn: sqlite3.Connection, worker_id: str, turns: Sequence[TurnWrite]
) -> dict[str, str | None]:
    """The instances whose turns may commit: still on the turn's execution,
    unfinished, and unowned or owned by this worker. The write transaction holds
    SQLite's lock, so the answer stays true until the commit. Each maps to its
    status if this worker owns it already, else None."""
    expected = {t.instance_id: t.execution_id for t in turns}
    ids = list(expected)
    ok: dict[str, str | None] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = conn.execute(
            "SELECT instance_id, execution_id, owner, status FROM instances "
            f"WHERE instance_id IN ({', '.join('?' * len(chunk))})",
            chunk,
        ).fetchall()
        for iid, execution_id, owner, status in rows:
            if (
                execution_id == expected[iid]
                and owner in (None, worker_id)
                and status not in TERMINAL_STATUSES
            ):
                ok[iid] = status if owner == worker_id else None
    return ok


def apply_turns(
    conn: sqlite3.Connection,
    worker_id: str,
    turns: Sequence[TurnWrite],
    owned: dict[str, str | None],
) -> None:
    """Write accepted turns, one statement per kind of row for the whole batch.
    ``owned`` maps the instances this worker owns already to their status."""
    if not turns:
        return
    for turn in turns:
        if turn.reset_history:  # continue-as-new: the old run's rows go first
            iid = turn.instance_id
            for table in ("history", "activities"):
                conn.execute(f"DELETE FROM {table} WHERE instance_id = ?", (iid,))
            conn.execute(
                "DELETE FROM inbox WHERE instance_id = ? AND execution_id IS NOT NULL",
                (iid,),
            )
    # Most turns of a running instance change only its update time: that
    # statement leaves the status and owner indexes alone (a third of the cost).
    touched: list[TurnWrite] = []
    changed: list[TurnWrite] = []
    for t in turns:
        (touched if _only_touches(t.update, owned.get(t.instance_id)) else changed).append(t)
    if touched:
        conn.executemany(
            "UPDATE instances SET updated_at = ? WHERE instance_id = ?",
            [(t.update.updated_at, t.instance_id) for t in touched],
        )
    if changed:
        conn.executemany(
            "UPDATE instances SET status = ?, updated_at = ?, output = ?, failure = ?, "
            "execution_id = ?, owner = ?, "
            "custom_status = CASE WHEN ? THEN ? ELSE custom_status END, "
            "input = CASE WHEN ? THEN ? ELSE input END "
            "WHERE instance_id = ?",
            [
                (
                    u.status,
                    u.updated_at,
                    pack(u.output),
                    u.failure,
                    u.new_execution_id or t.execution_id,
                    None if u.release else worker_id,
                    u.set_custom_status,
                    pack(u.custom_status),
                    u.new_execution_id is not None,
                    pack(u.new_input),
                    t.instance_id,
                )
                for t in changed
                for u in (t.update,)
            ],
        )
    consumed = [(m,) for t in turns for m in t.consumed]
    if consumed:
        conn.executemany("DELETE FROM inbox WHERE id = ?", consumed)
    conn.executemany(
        "INSERT INTO history (instance_id, seq, event) VALUES (?, ?, ?)",
        [
            (t.instance_id, t.history_start + n, pack(e))
            for t in turns
            for n, e in enumerate(t.history)
        ],
    )
    insert_activities(conn, [a for t in turns for a in t.activities])
    for child in (c for t in turns for c in t.children):
        record = child.record
        exists = conn.execute(
            "SELECT status FROM instances WHERE instance_id = ?", (record.instance_id,)
        ).fetchone()
        if exists is not None:
            if exists[0] not in TERMINAL_STATUSES:
                insert_messages(conn, [child.on_conflict])
                continue
            delete_instances(conn, [record.instance_id])
        conn.execute(
            f"INSERT INTO instances ({INSTANCE_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            instance_row(record),
        )
        insert_messages(conn, [child.start])
    insert_messages(conn, [m for t in turns for m in t.messages])


def _only_touches(u: InstanceUpdate, owned_status: str | None) -> bool:
    """True if applying ``u`` to an instance this worker owns, in ``owned_status``,
    changes nothing but its update time."""
    return (
        u.status == owned_status
        and not u.release
        and u.output is None
        and u.failure is None
        and not u.set_custom_status
        and u.new_execution_id is None
    )
