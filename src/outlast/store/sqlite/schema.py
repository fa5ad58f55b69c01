"""The SQLite tables and their versioned migrations (``PRAGMA user_version``)."""

from __future__ import annotations

import sqlite3

from outlast.errors import StoreError

_SCHEMA_V1 = """
CREATE TABLE instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    failure TEXT,
    parent_instance_id TEXT,
    owner TEXT
) WITHOUT ROWID;
CREATE INDEX instances_created ON instances (created_at, instance_id);
CREATE INDEX instances_status ON instances (status, created_at, instance_id);
CREATE INDEX instances_status_updated ON instances (status, updated_at);
CREATE INDEX instances_name ON instances (name, created_at, instance_id);
CREATE INDEX instances_parent ON instances (parent_instance_id)
    WHERE parent_instance_id IS NOT NULL;
CREATE INDEX instances_owner ON instances (owner) WHERE owner IS NOT NULL;
CREATE TABLE history (
    instance_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
) WITHOUT ROWID;
CREATE TABLE inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT,
    event TEXT NOT NULL,
    visible_at REAL NOT NULL
);
CREATE INDEX inbox_visible ON inbox (visible_at, id);
CREATE INDEX inbox_instance ON inbox (instance_id);
CREATE TABLE activities (
    instance_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    execution_id TEXT NOT NULL,
    name TEXT NOT NULL,
    input TEXT,
    owner TEXT,
    PRIMARY KEY (instance_id, task_id)
) WITHOUT ROWID;
CREATE INDEX activities_owner ON activities (owner);
CREATE TABLE workers (
    worker_id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
"""

# Version 2: history times became integer nanoseconds (older histories still decode).
# The format is recorded so that a release from before it refuses the database
# (its schema version is newer) instead of reading nanoseconds as seconds.
_HISTORY_FORMAT_V2 = """
CREATE TABLE history_format (version INTEGER NOT NULL);
INSERT INTO history_format (version) VALUES (2);
"""

# Schedules (outlast.store.schedules): the schedule rows, and their recent runs.
_SCHEDULES = """
CREATE TABLE schedules (
    schedule_id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    input TEXT,
    spec TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    note TEXT,
    next_run_at REAL,
    buffered_at REAL,
    last_instance_id TEXT,
    version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX schedules_due ON schedules (next_run_at) WHERE paused = 0;
CREATE TABLE schedule_runs (
    schedule_id TEXT NOT NULL,
    scheduled_at REAL NOT NULL,
    instance_id TEXT,
    kind TEXT NOT NULL,
    started_at REAL NOT NULL,
    PRIMARY KEY (schedule_id, scheduled_at)
) WITHOUT ROWID;
CREATE INDEX schedule_runs_recent ON schedule_runs (schedule_id, started_at, scheduled_at);
"""

# Version 4 (issue 14): an activity row's attempt (restarts count) and its call
# options (heartbeat timeout and details), NULL for the common call without any.
_ACTIVITY_ATTEMPTS = """
ALTER TABLE activities ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE activities ADD COLUMN options TEXT;
"""

# Version 5 (issue 14, flow control): an activity's call key and priority, and when
# a limited one joined its limit's queue (NULL: no limit governs it); the queue
# and running-count indexes; the starts log of rate limits (a sliding window).
_FLOW_CONTROL = """
ALTER TABLE activities ADD COLUMN limit_key TEXT;
ALTER TABLE activities ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE activities ADD COLUMN queued_at REAL;
CREATE INDEX activities_queue ON activities (name, priority DESC, queued_at)
    WHERE owner IS NULL AND queued_at IS NOT NULL;
CREATE INDEX activities_limited ON activities (name, limit_key)
    WHERE owner IS NOT NULL AND queued_at IS NOT NULL;
CREATE INDEX activities_free ON activities (instance_id)
    WHERE owner IS NULL AND queued_at IS NULL;
CREATE TABLE limit_starts (name TEXT NOT NULL, started_at REAL NOT NULL);
CREATE INDEX limit_starts_name ON limit_starts (name, started_at);
"""

# Each entry upgrades the schema by one version; never edit a released entry.
MIGRATIONS: list[str] = [
    _SCHEMA_V1,
    _HISTORY_FORMAT_V2,
    _SCHEDULES,
    _ACTIVITY_ATTEMPTS,
    _FLOW_CONTROL,
]


def migrate(conn: sqlite3.Connection, path: str) -> None:
    """Bring the schema up to date (inside the caller's write transaction)."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise StoreError(
            f"{path} has schema version {version}, newer than this "
            f"outlast understands ({len(MIGRATIONS)}); upgrade outlast"
        )
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version={number}")
