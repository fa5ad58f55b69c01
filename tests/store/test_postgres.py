"""The PostgreSQL store: the shared contract, plus what only a server can show
(claims between workers, notifications between processes, lost connections)."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterator
from typing import Any

import psycopg
import pytest

import outlast
from outlast.errors import StoreError
from outlast.store import open_store
from outlast.store.base import CommitBatch, InstanceRecord, Message, Store
from outlast.store.postgres import CHANNEL, MIGRATIONS, PostgresStore
from outlast.testing.store_contract import W1, W2, StoreContract, message, record, turn
from tests.pg import terminate_connections


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store(self, pg_database: str) -> Iterator[Store]:
        s = PostgresStore(pg_database)
        s.reset()
        yield s
        s.close()


@pytest.fixture
def pg(pg_database: str) -> Iterator[PostgresStore]:
    s = PostgresStore(pg_database)
    s.reset()
    yield s
    s.close()


def _create(store: Store, iid: str) -> None:
    store.create_instance(record(iid), message(iid, execution=f"{iid}-e1"))


def _wait_for_version(store: Store, seen: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while store.version == seen and time.monotonic() < deadline:
        store.wait_for_change(seen, 1.0)
    return store.version != seen


def _listeners(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND query = %s",
            (f"LISTEN {CHANNEL}",),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _wait_for_listeners(url: str, n: int) -> None:
    deadline = time.monotonic() + 30
    while _listeners(url) < n:
        assert time.monotonic() < deadline, "the listener did not (re)connect"
        time.sleep(0.05)


# --- schema ---------------------------------------------------------------------------


def test_schema_version_is_recorded(fresh_database: str) -> None:
    PostgresStore(fresh_database).close()
    with psycopg.connect(fresh_database) as conn:
        row = conn.execute("SELECT version FROM outlast_schema").fetchone()
    assert row == (len(MIGRATIONS),)
    PostgresStore(fresh_database).close()  # opening again migrates nothing


def test_newer_schema_is_refused(fresh_database: str) -> None:
    PostgresStore(fresh_database).close()
    with psycopg.connect(fresh_database) as conn:
        conn.execute("UPDATE outlast_schema SET version = %s", (len(MIGRATIONS) + 1,))
    with pytest.raises(StoreError, match="newer"):
        PostgresStore(fresh_database)


def test_processes_starting_together_migrate_once(fresh_database: str) -> None:
    opened: list[PostgresStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            opened.append(PostgresStore(fresh_database))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in opened:
        s.close()
    assert errors == [] and len(opened) == 4


# --- claims ---------------------------------------------------------------------------


def test_fetch_claims_instances_for_one_worker(pg: PostgresStore) -> None:
    _create(pg, "a")
    _create(pg, "b")
    [first] = pg.fetch_messages(W1, 1000.0, 1)
    assert first.instance_id == "a"
    assert pg.get_instance("a").owner == W1  # type: ignore[union-attr]
    assert [m.instance_id for m in pg.fetch_messages(W2, 1000.0, 10)] == ["b"]
    assert pg.fetch_messages(W2, 1000.0, 10)[0].instance_id == "b"  # W2 owns b now
    assert [m.instance_id for m in pg.fetch_messages(W1, 1000.0, 10)] == ["a"]


def test_fetch_skips_instances_locked_by_a_concurrent_claim(
    pg: PostgresStore, pg_database: str
) -> None:
    _create(pg, "a")
    _create(pg, "b")
    got: list[list[Message]] = []
    with psycopg.connect(pg_database) as conn:
        conn.execute("SELECT 1 FROM outlast_instances WHERE instance_id = 'a' FOR UPDATE")
        fetcher = threading.Thread(target=lambda: got.append(pg.fetch_messages(W1, 1e9, 10)))
        fetcher.start()
        fetcher.join(timeout=60)
        assert not fetcher.is_alive(), "fetch_messages waited for a locked instance"
        conn.rollback()
    assert [m.instance_id for m in got[0]] == ["b"]
    assert [m.instance_id for m in pg.fetch_messages(W1, 1e9, 10)] == ["a", "b"]


def _race(stores: list[PostgresStore], iid: str) -> dict[str, set[str]]:
    """Two workers commit a turn of the same unowned instance at the same moment."""
    barrier = threading.Barrier(2)
    results: dict[str, set[str]] = {}

    def commit(store: PostgresStore, worker: str) -> None:
        batch = CommitBatch(worker, turns=[turn(iid, history=[worker])])
        barrier.wait()
        results[worker] = store.commit(batch)

    threads = [
        threading.Thread(target=commit, args=(s, w)) for s, w in zip(stores, (W1, W2), strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_loads_after_a_claim_see_later_commits(pg: PostgresStore) -> None:
    _create(pg, "a")
    [m] = pg.fetch_messages(W1, 1e9, 10)  # claims a, and reads it ahead for the worker
    pg.commit(CommitBatch(W1, turns=[turn("a", history=["e0"], consumed=[m.id])]))
    loaded = pg.load_instance("a")
    assert loaded is not None and loaded[1] == ["e0"]
    assert loaded[0].status == "RUNNING" and loaded[0].owner == W1


def test_concurrent_turns_of_one_instance_commit_once(pg_database: str) -> None:
    stores = [PostgresStore(pg_database) for _ in range(2)]
    stores[0].reset()
    try:
        for n in range(10):
            iid = f"i{n}"
            _create(stores[0], iid)
            results = _race(stores, iid)
            winners = [w for w, rejected in results.items() if not rejected]
            assert len(winners) == 1
            assert stores[0].get_history(iid) == winners
            assert stores[0].get_instance(iid).owner == winners[0]  # type: ignore[union-attr]
    finally:
        for s in stores:
            s.close()


def test_reaping_spares_a_worker_that_just_heartbeat(pg: PostgresStore) -> None:
    pg.register_worker(W1, "host", 1, expires_at=50.0)
    pg.heartbeat(W1, 500.0)
    assert pg.reap_workers(100.0, lambda host, pid: False) == 0


# --- notifications --------------------------------------------------------------------


def test_commits_wake_other_processes(pg: PostgresStore, pg_database: str) -> None:
    other = PostgresStore(pg_database)
    try:
        _wait_for_listeners(pg_database, 2)
        seen = other.version
        _create(pg, "a")
        assert _wait_for_version(other, seen)
        [m] = pg.fetch_messages(W1, 1e9, 10)
        with other.watch("a") as a_changed, other.watch("b") as b_changed:
            pg.commit(CommitBatch(W1, turns=[turn("a", history=["e0"], consumed=[m.id])]))
            assert a_changed.wait(30)  # a client there waiting on "a" wakes
            assert not b_changed.is_set()  # one waiting on another instance sleeps on
    finally:
        other.close()


# --- failures -------------------------------------------------------------------------


def test_unreachable_server_raises_store_error() -> None:
    before = set(threading.enumerate())
    with pytest.raises(StoreError) as caught:
        PostgresStore("postgresql://postgres@127.0.0.1:1/none", connect_timeout=1)
    assert isinstance(caught.value.__cause__, psycopg.Error)
    assert set(threading.enumerate()) <= before


def test_sql_errors_are_store_errors_and_roll_back(pg: PostgresStore) -> None:
    _create(pg, "a")
    pg.commit(CommitBatch(W1, turns=[turn("a", history=["e0"])]))
    with pytest.raises(StoreError) as caught:
        pg.commit(CommitBatch(W1, turns=[turn("a", history=["dup"])]))
    assert isinstance(caught.value.__cause__, psycopg.errors.UniqueViolation)
    assert pg.get_history("a") == ["e0"]
    pg.send_messages([message("a", "still-works")])  # the connection went back clean


def test_reconnects_after_connections_are_killed(pg: PostgresStore, pg_database: str) -> None:
    other = PostgresStore(pg_database)
    try:
        _create(pg, "a")
        _wait_for_listeners(pg_database, 2)
        assert terminate_connections(pg_database) >= 2
        assert pg.get_instance("a") is not None
        _create(pg, "b")
        [m] = [m for m in pg.fetch_messages(W1, 1e9, 10) if m.instance_id == "b"]
        pg.commit(CommitBatch(W1, turns=[turn("b", history=["e0"], consumed=[m.id])]))
        assert pg.get_history("b") == ["e0"]
        # Both listeners come back and deliver again.
        _wait_for_listeners(pg_database, 2)
        seen = other.version
        pg.send_messages([message("a", "after")])
        assert _wait_for_version(other, seen)
    finally:
        other.close()


def test_commit_outcome_is_asked_of_the_server(pg: PostgresStore, pg_database: str) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        with conn.transaction():
            committed = conn.execute("SELECT pg_current_xact_id()::text").fetchone()
        conn.execute("BEGIN")
        aborted = conn.execute("SELECT pg_current_xact_id()::text").fetchone()
        conn.execute("ROLLBACK")
    assert committed is not None and aborted is not None
    cause = psycopg.OperationalError("connection lost")
    assert pg._committed(committed[0], time.monotonic() + 30, cause) is True
    assert pg._committed(aborted[0], time.monotonic() + 30, cause) is False


def test_close_stops_its_threads(pg_database: str) -> None:
    before = set(threading.enumerate())
    store = PostgresStore(pg_database)
    assert len(set(threading.enumerate()) - before) >= 2  # listener and pool
    store.close()
    store.close()  # twice is harmless
    assert set(threading.enumerate()) <= before
    with pytest.raises(StoreError, match="closed"):
        store.get_instance("a")


def test_password_is_not_shown(pg_database: str) -> None:
    # Trust authentication ignores the password; the store must not print it.
    url = pg_database.replace("postgres@", "postgres:secret@", 1)
    store = PostgresStore(url)
    try:
        assert "secret" not in repr(store) and "***" in repr(store)
    finally:
        store.close()


# --- through the public API -----------------------------------------------------------


def test_open_store_gives_one_postgres_store_per_url(fresh_database: str) -> None:
    a = open_store(fresh_database)
    try:
        assert isinstance(a, PostgresStore)
        assert open_store(fresh_database) is a
    finally:
        a.close()


def double(ctx: outlast.ActivityContext, x: int) -> int:
    return x * 2


def pipeline(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, int]:
    values = yield outlast.when_all([ctx.call_activity(double, input=i) for i in range(n)])
    yield ctx.create_timer(ctx.current_utc_datetime)
    bonus = yield ctx.wait_for_external_event("bonus")
    return int(sum(values)) + int(bonus)


def test_runtime_and_client_on_postgres(pg: PostgresStore) -> None:
    runtime = outlast.WorkflowRuntime(pg, poll_interval=0.05)
    runtime.register_workflow(pipeline)
    runtime.register_activity(double)
    client = outlast.WorkflowClient(pg)
    with runtime:
        iid = client.schedule_new_workflow(pipeline, input=5)
        client.raise_workflow_event(iid, "bonus", data=100)
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=60)
    assert state is not None
    assert state.runtime_status is outlast.WorkflowStatus.COMPLETED
    assert state.output() == 120
    assert pg.get_instance(iid).owner is None  # type: ignore[union-attr]


def test_instance_record_roundtrip(pg: PostgresStore) -> None:
    full = InstanceRecord(
        "x", "wf", "PENDING", "x-e1", 1.5, 2.5, '"in"', None, '"cs"', None, "parent", None
    )
    pg.create_instance(full, message("x"))
    assert pg.get_instance("x") == full
