"""The tables, their versioned migrations, and the advisory lock that serializes them."""

from __future__ import annotations

from typing import Any

from psycopg import Connection

from outlast.errors import StoreError

# Serializes migrations of concurrently starting processes ("outlast" in ASCII).
MIGRATION_LOCK = 0x6F75746C617374

_SCHEMA_V1 = """
CREATE TABLE outlast_instances (
    instance_id text PRIMARY KEY,
    name text NOT NULL,
    status text NOT NULL,
    execution_id text NOT NULL,
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL,
    input text,
    output text,
    custom_status text,
    failure text,
    parent_instance_id text,
    owner text
);
CREATE INDEX outlast_instances_created ON outlast_instances (created_at, instance_id);
CREATE INDEX outlast_instances_status ON outlast_instances (status, created_at, instance_id);
CREATE INDEX outlast_instances_status_updated ON outlast_instances (status, updated_at);
CREATE INDEX outlast_instances_name ON outlast_instances (name, created_at, instance_id);
CREATE INDEX outlast_instances_parent ON outlast_instances (parent_instance_id)
    WHERE parent_instance_id IS NOT NULL;
CREATE INDEX outlast_instances_owner ON outlast_instances (owner) WHERE owner IS NOT NULL;
CREATE TABLE outlast_history (
    instance_id text NOT NULL,
    seq integer NOT NULL,
    event text NOT NULL,
    PRIMARY KEY (instance_id, seq)
);
CREATE TABLE outlast_inbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance_id text NOT NULL,
    execution_id text,
    event text NOT NULL,
    visible_at double precision NOT NULL
);
CREATE INDEX outlast_inbox_visible ON outlast_inbox (visible_at, id);
CREATE INDEX outlast_inbox_instance ON outlast_inbox (instance_id);
CREATE TABLE outlast_activities (
    instance_id text NOT NULL,
    task_id integer NOT NULL,
    execution_id text NOT NULL,
    name text NOT NULL,
    input text,
    owner text,
    PRIMARY KEY (instance_id, task_id)
);
CREATE INDEX outlast_activities_owner ON outlast_activities (owner);
CREATE TABLE outlast_workers (
    worker_id text PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    expires_at double precision NOT NULL
);
"""

# Version 2: history times became integer nanoseconds (older histories still decode).
# The format is recorded so that a release from before it refuses the database
# (its schema version is newer) instead of reading nanoseconds as seconds.
_HISTORY_FORMAT_V2 = """
CREATE TABLE outlast_history_format (version integer NOT NULL);
INSERT INTO outlast_history_format (version) VALUES (2);
"""

# Schedules (outlast.store.schedules): the schedule rows, and their recent runs.
_SCHEDULES = """
CREATE TABLE outlast_schedules (
    schedule_id text PRIMARY KEY,
    workflow text NOT NULL,
    input text,
    spec text NOT NULL,
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL,
    paused boolean NOT NULL DEFAULT false,
    note text,
    next_run_at double precision,
    buffered_at double precision,
    last_instance_id text,
    version bigint NOT NULL
);
CREATE INDEX outlast_schedules_due ON outlast_schedules (next_run_at) WHERE NOT paused;
CREATE TABLE outlast_schedule_runs (
    schedule_id text NOT NULL,
    scheduled_at double precision NOT NULL,
    instance_id text,
    kind text NOT NULL,
    started_at double precision NOT NULL,
    PRIMARY KEY (schedule_id, scheduled_at)
);
CREATE INDEX outlast_schedule_runs_recent
    ON outlast_schedule_runs (schedule_id, started_at, scheduled_at);
"""

# Version 4 (issue 14): an activity row's attempt (restarts count) and its call
# options (heartbeat timeout and details), NULL for the common call without any.
_ACTIVITY_ATTEMPTS = """
ALTER TABLE outlast_activities ADD COLUMN attempt integer NOT NULL DEFAULT 1;
ALTER TABLE outlast_activities ADD COLUMN options text;
"""

# Version 5 (issue 14, flow control): an activity's call key and priority, and when
# a limited one joined its limit's queue (NULL: no limit governs it); the queue
# and running-count indexes; the starts log of rate limits (a sliding window).
_FLOW_CONTROL = """
ALTER TABLE outlast_activities ADD COLUMN limit_key text;
ALTER TABLE outlast_activities ADD COLUMN priority integer NOT NULL DEFAULT 0;
ALTER TABLE outlast_activities ADD COLUMN queued_at double precision;
CREATE INDEX outlast_activities_queue ON outlast_activities (name, priority DESC, queued_at)
    WHERE owner IS NULL AND queued_at IS NOT NULL;
CREATE INDEX outlast_activities_limited ON outlast_activities (name, limit_key)
    WHERE owner IS NOT NULL AND queued_at IS NOT NULL;
CREATE INDEX outlast_activities_free ON outlast_activities (instance_id)
    WHERE owner IS NULL AND queued_at IS NULL;
CREATE TABLE outlast_limit_starts (name text NOT NULL, started_at double precision NOT NULL);
CREATE INDEX outlast_limit_starts_name ON outlast_limit_starts (name, started_at);
"""

# Each entry upgrades the schema by one version; never edit a released entry.
MIGRATIONS: list[str] = [
    _SCHEMA_V1,
    _HISTORY_FORMAT_V2,
    _SCHEDULES,
    _ACTIVITY_ATTEMPTS,
    _FLOW_CONTROL,
]

TABLES = (
    "outlast_instances",
    "outlast_history",
    "outlast_inbox",
    "outlast_activities",
    "outlast_workers",
    "outlast_schedules",
    "outlast_schedule_runs",
    "outlast_limit_starts",
)


def migrate(conn: Connection[Any]) -> None:
    """Bring the schema up to date, in one transaction. Processes that start
    together queue on the advisory lock, and the later ones find nothing to do."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS outlast_schema ("
            "one boolean PRIMARY KEY DEFAULT true CHECK (one), version integer NOT NULL)"
        )
        row = conn.execute("SELECT version FROM outlast_schema").fetchone()
        version = 0 if row is None else int(row[0])
        if version > len(MIGRATIONS):
            raise StoreError(
                f"the database has outlast schema version {version}, newer than this "
                f"outlast understands ({len(MIGRATIONS)}); upgrade outlast"
            )
        for script in MIGRATIONS[version:]:
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
        if version < len(MIGRATIONS):
            conn.execute(
                "INSERT INTO outlast_schema (one, version) VALUES (true, %s) "
                "ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version",
                (len(MIGRATIONS),),
            )
