"""The SQL of the client calls, the fetch and the worker bookkeeping.

Each write is one statement (data-modifying CTEs) that also returns its
transaction ID for the commit-outcome check and sends its own notification, so
an explicit transaction costs one round trip for the statement plus the COMMIT.
The turn commit has its own module, ``commit.py``.
"""

from __future__ import annotations

from outlast.store.postgres.prepared import Statement
from outlast.store.postgres.rows import activity_values, instance_values, message_values
from outlast.store.sql import ACTIVITY_COLUMNS, INSTANCE_COLUMNS, TERMINAL_SQL

CHANNEL = "outlast_changes"

XID = "pg_current_xact_id()::text"


def notify_if(source: str) -> str:
    """A scalar expression that notifies ``%(n)s`` once if ``source`` (a FROM item)
    has a row, and never when ``%(n)s`` is NULL."""
    return (
        f"(SELECT count(*) FROM (SELECT pg_notify('{CHANNEL}', %(n)s::text) "
        f"WHERE %(n)s::text IS NOT NULL AND EXISTS (SELECT 1 FROM {source})) notified)"
    )


NOTIFY = (
    f"(SELECT count(*) FROM (SELECT pg_notify('{CHANNEL}', %(n)s::text) "
    "WHERE %(n)s::text IS NOT NULL) notified)"
)

ACTIVITY_UPSERT = (
    "ON CONFLICT (instance_id, task_id) DO UPDATE SET "
    "execution_id = EXCLUDED.execution_id, name = EXCLUDED.name, "
    "input = EXCLUDED.input, owner = EXCLUDED.owner, attempt = EXCLUDED.attempt, "
    "options = EXCLUDED.options, limit_key = EXCLUDED.limit_key, "
    "priority = EXCLUDED.priority, queued_at = EXCLUDED.queued_at"
)
INSERT_ACTIVITIES = (
    "INSERT INTO outlast_activities "
    "(instance_id, task_id, execution_id, name, input, owner, attempt, options, "
    "limit_key, priority, queued_at)"
)

# %(d)s: {"r": instance row, "m": start message row, "h": [event], "a": [activity row]}.
# Everything hangs on the instance insert: when the ID is taken, nothing is written
# and the caller decides (refuse, or replace a finished instance and run it again).
CREATE = Statement(f"""
WITH ins AS (
    INSERT INTO outlast_instances ({INSTANCE_COLUMNS})
    SELECT {instance_values("(%(d)s::jsonb -> 'r')")}
    ON CONFLICT (instance_id) DO NOTHING
    RETURNING instance_id
), start AS (
    INSERT INTO outlast_inbox (instance_id, execution_id, event, visible_at)
    SELECT {message_values("(%(d)s::jsonb -> 'm')")} FROM ins
), history AS (
    INSERT INTO outlast_history (instance_id, seq, event)
    SELECT ins.instance_id, e.n - 1, e.event
    FROM ins, jsonb_array_elements_text(%(d)s::jsonb -> 'h') WITH ORDINALITY AS e(event, n)
), activities AS (
    {INSERT_ACTIVITIES}
    SELECT {activity_values("a")} FROM ins, jsonb_array_elements(%(d)s::jsonb -> 'a') AS a
    {ACTIVITY_UPSERT}
)
SELECT {XID}, EXISTS (SELECT 1 FROM ins), {notify_if("ins")}
""")

LOCK_STATUS = Statement(
    "SELECT status, execution_id FROM outlast_instances WHERE instance_id = %(id)s FOR UPDATE"
)

# %(ids)s: text[]. The caller has locked the instance rows.
DELETE_INSTANCES = Statement("""
WITH history AS (
    DELETE FROM outlast_history WHERE instance_id = ANY(%(ids)s::text[])
), inbox AS (
    DELETE FROM outlast_inbox WHERE instance_id = ANY(%(ids)s::text[])
), activities AS (
    DELETE FROM outlast_activities WHERE instance_id = ANY(%(ids)s::text[])
)
DELETE FROM outlast_instances WHERE instance_id = ANY(%(ids)s::text[])
""")

LOCK_FOR_PURGE = Statement(f"""
SELECT instance_id, status, {XID} FROM outlast_instances
WHERE instance_id = ANY(%(ids)s::text[]) ORDER BY instance_id FOR UPDATE
""")

# %(m)s: [message row]. Rows are numbered in list order: message IDs decide the
# order in which an instance sees its events.
SEND = Statement(f"""
WITH inserted AS (
    INSERT INTO outlast_inbox (instance_id, execution_id, event, visible_at)
    SELECT {message_values("x.m")}
    FROM jsonb_array_elements(%(m)s::jsonb) WITH ORDINALITY AS x(m, n)
    ORDER BY x.n
)
SELECT {XID}, {NOTIFY}
""")

SET_STATUS_IF = Statement(f"""
WITH changed AS (
    UPDATE outlast_instances SET status = %(status)s, updated_at = %(now)s
    WHERE instance_id = %(id)s AND status = %(expected)s
    RETURNING instance_id
)
SELECT {XID}, EXISTS (SELECT 1 FROM changed), {notify_if("changed")}
""")

GET_INSTANCE = f"SELECT {INSTANCE_COLUMNS} FROM outlast_instances WHERE instance_id = %s"
GET_HISTORY = "SELECT event FROM outlast_history WHERE instance_id = %s ORDER BY seq"

# One statement, run outside an explicit transaction: it claims (FOR UPDATE SKIP
# LOCKED, then owner = me) the unowned instances whose messages it returns, reads
# those instances with their histories for the load_instance calls that follow,
# and answers the worker's next two questions (when is the next message due, are
# there unowned activities) from the same snapshot. A claim lost in a crash only
# leaves the instance unowned again, so its commit need not wait for the WAL.
#
# Rows: kind 0 = a message (id, instance, execution, event, visible_at), in order;
# kind 1 = a claimed instance (its columns and history); kind 2 = one row with the
# next visible_at, and as its id whether unowned activities exist (1) and whether
# queued ones do, behind a limit (2).
FETCH = Statement(f"""
WITH ready AS (
    SELECT m.id, m.instance_id, m.execution_id, m.event, m.visible_at, i.owner, i.status
    FROM outlast_inbox m JOIN outlast_instances i ON i.instance_id = m.instance_id
    WHERE m.visible_at <= %(now)s AND (i.owner IS NULL OR i.owner = %(worker)s)
        AND i.status <> 'STALLED'
        AND (%(names)s::text[] IS NULL OR i.owner = %(worker)s
            OR i.name = ANY(%(names)s::text[]))
    ORDER BY m.visible_at, m.id
    LIMIT %(limit)s
    FOR UPDATE OF i SKIP LOCKED
), claimed AS (
    UPDATE outlast_instances SET owner = %(worker)s
    WHERE instance_id = ANY(ARRAY(
        SELECT instance_id FROM ready
        WHERE owner IS NULL AND status NOT IN {TERMINAL_SQL}
    ))
    RETURNING {INSTANCE_COLUMNS}
)
SELECT 0 AS kind, id, instance_id, execution_id, event, visible_at,
    NULL::text, NULL::text, NULL::float8, NULL::float8, NULL::text, NULL::text,
    NULL::text, NULL::text, NULL::text, NULL::text, NULL::text[]
FROM ready
UNION ALL
SELECT 1, NULL, c.instance_id, c.execution_id, NULL, NULL,
    c.name, c.status, c.created_at, c.updated_at, c.input, c.output,
    c.custom_status, c.failure, c.parent_instance_id, c.owner,
    ARRAY(SELECT h.event FROM outlast_history h WHERE h.instance_id = c.instance_id
        ORDER BY h.seq)
FROM claimed c
UNION ALL
SELECT 2, (EXISTS (SELECT 1 FROM outlast_activities
        WHERE owner IS NULL AND queued_at IS NULL))::integer
    + 2 * (EXISTS (SELECT 1 FROM outlast_activities
        WHERE owner IS NULL AND queued_at IS NOT NULL))::integer, NULL,
    NULL, NULL,
    (SELECT m.visible_at FROM outlast_inbox m
        JOIN outlast_instances i ON i.instance_id = m.instance_id
        WHERE m.visible_at > %(now)s AND (i.owner IS NULL OR i.owner = %(worker)s)
        ORDER BY m.visible_at LIMIT 1),
    set_config('synchronous_commit', 'off', true), NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL
ORDER BY 1, 6, 2
""")

# The first row in visible_at order, not min(): the index scan stops there
# instead of aggregating every future message (timers can be many).
NEXT_VISIBLE_AT = """
SELECT m.visible_at FROM outlast_inbox m
JOIN outlast_instances i ON i.instance_id = m.instance_id
WHERE m.visible_at > %s AND (i.owner IS NULL OR i.owner = %s)
ORDER BY m.visible_at LIMIT 1
"""


ANY_FREE_ACTIVITY = (
    "SELECT 1 FROM outlast_activities WHERE owner IS NULL AND queued_at IS NULL LIMIT 1"
)

OWNED_ACTIVITIES = f"SELECT {ACTIVITY_COLUMNS} FROM outlast_activities WHERE owner = %s"

# provider: PostgreSQL 15 and later say whether the default collation is libc's
# ("c") or ICU's ("i"); older ones have only libc's.
DATABASE_COLLATION = """
SELECT datcollate, to_jsonb(d) ->> 'datlocprovider' FROM pg_database d
WHERE datname = current_database()
"""

# The planner's picture of the instances: how many rows, and the share of the
# most common statuses (kept by ANALYZE and autovacuum).
STATUS_ESTIMATES = """
SELECT c.reltuples, s.most_common_vals::text::text[], s.most_common_freqs
FROM pg_class c
LEFT JOIN pg_stats s ON s.schemaname = current_schema()
    AND s.tablename = 'outlast_instances' AND s.attname = 'status'
WHERE c.oid = 'outlast_instances'::regclass
"""

PENDING_ACTIVITIES = (
    f"SELECT {ACTIVITY_COLUMNS} FROM outlast_activities WHERE instance_id = %s ORDER BY task_id"
)

CLAIM_ACTIVITIES = Statement(f"""
UPDATE outlast_activities a SET owner = %(worker)s
FROM (
    SELECT instance_id, task_id FROM outlast_activities
    WHERE owner IS NULL AND queued_at IS NULL
      AND (%(names)s::text[] IS NULL OR name = ANY(%(names)s::text[]))
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
) free
WHERE a.instance_id = free.instance_id AND a.task_id = free.task_id AND a.owner IS NULL
RETURNING a.instance_id, a.execution_id, a.task_id, a.name, a.input, {XID}, a.attempt,
    a.options
""")

UPSERT_WORKER = """
INSERT INTO outlast_workers (worker_id, host, pid, expires_at) VALUES (%s, %s, %s, %s)
ON CONFLICT (worker_id) DO UPDATE SET
    host = EXCLUDED.host, pid = EXCLUDED.pid, expires_at = EXCLUDED.expires_at
"""

HEARTBEAT = "UPDATE outlast_workers SET expires_at = %s WHERE worker_id = %s"

LIST_WORKERS = "SELECT worker_id, host, pid, expires_at FROM outlast_workers"

# Releases what a worker owned, for the others to take at once.
REMOVE_WORKER = Statement(f"""
WITH gone AS (
    DELETE FROM outlast_workers WHERE worker_id = %(worker)s
), instances AS (
    UPDATE outlast_instances SET owner = NULL WHERE owner = %(worker)s
), activities AS (
    UPDATE outlast_activities SET owner = NULL, attempt = attempt + 1
    WHERE owner = %(worker)s
)
SELECT {NOTIFY}
""")

# Deleting only rows that are still expired (or dead) makes a worker that
# heartbeat a moment ago, and a concurrent reaper, safe.
REAP = Statement(f"""
WITH gone AS (
    DELETE FROM outlast_workers
    WHERE worker_id = ANY(%(candidates)s::text[])
        AND (expires_at < %(now)s OR worker_id = ANY(%(dead)s::text[]))
    RETURNING worker_id
), instances AS (
    UPDATE outlast_instances SET owner = NULL
    WHERE owner = ANY(ARRAY(SELECT worker_id FROM gone))
), activities AS (
    UPDATE outlast_activities SET owner = NULL, attempt = attempt + 1
    WHERE owner = ANY(ARRAY(SELECT worker_id FROM gone))
)
SELECT {XID}, (SELECT count(*) FROM gone), {notify_if("gone")}
""")
