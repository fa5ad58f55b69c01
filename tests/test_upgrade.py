"""A database written by the previous release (float-second history times, no turn
markers, no timer origins, patches as WorkflowPatched events) opens, decodes, and
its running instances carry on to completion with today's engine."""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

import outlast
from outlast.core import history as h
from outlast.core.codec import decode_event
from outlast.core.flow import Limit
from outlast.store import SqliteStore, Store
from outlast.store.postgres import PostgresStore
from outlast.store.postgres.schema import MIGRATIONS as PG_MIGRATIONS
from outlast.store.sqlite import MIGRATIONS
from outlast.testing import FakeClock
from tests.fixtures import previous_release_app
from tests.pg import fresh_database

__all__ = ["fresh_database"]

FIXTURE = Path(__file__).parent / "fixtures" / "previous_release.db"
# The old run's clock ended five minutes past its start.
RESUMED_AT = datetime(2030, 1, 1, 0, 5, 1, tzinfo=UTC)


def _until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _copy(tmp_path: Path) -> str:
    db = tmp_path / "old.db"
    shutil.copy(FIXTURE, db)
    return f"sqlite:///{db}"


def test_every_stored_event_of_the_previous_release_decodes(tmp_path: Path) -> None:
    url = _copy(tmp_path)
    outlast.WorkflowClient(url).store.close()  # opening migrates
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    texts = [r[0] for r in conn.execute("SELECT event FROM history")]
    texts += [r[0] for r in conn.execute("SELECT event FROM inbox")]
    conn.close()
    events = [decode_event(t) for t in texts]
    assert len(events) == len(texts) > 30
    assert all(isinstance(e.ts, int) for e in events)  # float seconds became nanoseconds
    timers = [e for e in events if isinstance(e, h.TimerCreated)]
    assert timers and all(e.origin is None for e in timers)  # older runs had none
    assert any(isinstance(e, h.WorkflowPatched) for e in events)


def test_running_instances_of_the_previous_release_finish(tmp_path: Path) -> None:
    url = _copy(tmp_path)
    previous_release_app.FLAKY_CALLS.clear()
    clock = FakeClock(RESUMED_AT)
    runtime = outlast.WorkflowRuntime(url, clock=clock, poll_interval=0.02)
    previous_release_app.register(runtime)
    with runtime:
        client = runtime.client()
        client.raise_workflow_event("waits-approval", "approve", data="yes")
        client.raise_workflow_event("waits-go", "go", data="second")
        client.raise_workflow_event("patched", "go")
        client.raise_workflow_event("parent", "go", data="x")

        def output(iid: str) -> object:
            state = client.wait_for_workflow_completion(iid, timeout_in_seconds=20)
            assert state is not None and state.runtime_status is outlast.WorkflowStatus.COMPLETED
            return state.output_as()

        assert output("waits-approval") == ["yes", 2]
        # Waits from before timer origins existed record no timer now either.
        assert output("waits-go") == ["first", "second"]
        assert output("patched") == ["a", "b"]  # the recorded patch still counts
        assert output("parent") == [7, "x"]
        for _ in range(4):  # the retry's timer, then the monitor's generations
            clock.advance(timedelta(minutes=5))
            time.sleep(0.2)
        _until(lambda: client.get_workflow_state("monitor").runtime_status.is_terminal)  # type: ignore[union-attr]
        assert output("monitor") == 3
        assert output("retries") == 40
        assert previous_release_app.FLAKY_CALLS == [4, 4]  # attempts 2 and 3, now
        clock.advance(timedelta(days=1))
        assert output("sleeps") == "rested"
    runtime.store.close()


def test_the_database_records_its_history_format(tmp_path: Path) -> None:
    """So that an outlast from before exact times refuses it (its schema version is
    newer than that release knows) rather than reading nanoseconds as seconds."""
    url = _copy(tmp_path)
    outlast.WorkflowClient(url).store.close()
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    assert conn.execute("SELECT version FROM history_format").fetchall() == [(2,)]
    assert conn.execute("PRAGMA user_version").fetchone()[0] >= 2
    conn.close()


# --- schema version 4 -> 5 (flow control) ------------------------------------------

_V4_ACTIVITY = (
    "INSERT INTO {table} (instance_id, task_id, execution_id, name, input, owner, attempt) "
    "VALUES ('old', 3, 'old-e1', 'charge', '\"x\"', NULL, 2)"
)


def _check_v4_activity_after_upgrade(store: Store) -> None:
    """An activity row from before flow control: no key, priority 0, in no queue;
    a limit declared on its name now does not hold it back."""
    [row] = store.pending_activities("old")
    assert (row.key, row.priority, row.queued_at, row.waiting_on_limit) == (None, 0, None, False)
    limit = Limit("charge", concurrency=1)
    assert store.admit_activities("w", [limit], 100.0, 10) == []
    [claimed] = store.claim_activities("w", 10)
    assert (claimed.task_id, claimed.attempt, claimed.input) == (3, 2, '"x"')


def test_a_schema_4_sqlite_database_upgrades_to_flow_control(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:4]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version=4")
    conn.execute(_V4_ACTIVITY.format(table="activities"))
    conn.commit()
    conn.close()
    store = SqliteStore(path)
    try:
        _check_v4_activity_after_upgrade(store)
    finally:
        store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 5
    conn.close()


def test_a_schema_4_postgres_database_upgrades_to_flow_control(fresh_database: str) -> None:
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        for script in PG_MIGRATIONS[:4]:
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute(
            "CREATE TABLE outlast_schema (one boolean PRIMARY KEY DEFAULT true CHECK (one), "
            "version integer NOT NULL)"
        )
        conn.execute("INSERT INTO outlast_schema (one, version) VALUES (true, 4)")
        conn.execute(_V4_ACTIVITY.format(table="outlast_activities"))
    store = PostgresStore(fresh_database)
    try:
        _check_v4_activity_after_upgrade(store)
    finally:
        store.close()
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        row = conn.execute("SELECT version FROM outlast_schema").fetchone()
    assert row == (len(PG_MIGRATIONS),) == (5,)
