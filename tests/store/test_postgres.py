"""The PostgreSQL store: the shared contract, plus what only a server can show
(claims between workers, notifications between processes, lost connections)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

import outlast
from outlast.errors import InstanceAlreadyExistsError, StoreError
from outlast.store import SqliteStore, open_store
from outlast.store.base import (
    ActivityRecord,
    ChildStart,
    CommitBatch,
    InstanceRecord,
    Message,
    Store,
)
from outlast.store.postgres import CHANNEL, MIGRATIONS, PostgresStore, prepared
from outlast.testing.store_contract import W1, W2, StoreContract, message, record, turn
from tests.pg import require_server, terminate_connections, url_for
from tests.store.round_trips import traced


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store(self, pg_database: str) -> Iterator[Store]:
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
    started = time.monotonic()
    with pytest.raises(StoreError, match="refused the connection") as caught:
        PostgresStore("postgresql://postgres@127.0.0.1:1/none")
    assert time.monotonic() - started < 5  # not the 10 s connect timeout
    assert isinstance(caught.value.__cause__, psycopg.Error)
    assert set(threading.enumerate()) <= before


def test_missing_database_is_reported_at_once() -> None:
    require_server()
    before = set(threading.enumerate())
    started = time.monotonic()
    url = url_for("outlast_no_such_database").replace("postgres@", "postgres:secret@", 1)
    with pytest.raises(StoreError, match="database does not exist") as caught:
        PostgresStore(url)
    assert time.monotonic() - started < 5
    assert "outlast_no_such_database" in str(caught.value)
    assert "secret" not in str(caught.value)
    assert isinstance(caught.value.__cause__, psycopg.Error)
    assert set(threading.enumerate()) <= before


def test_refused_login_is_reported_at_once() -> None:
    require_server()
    started = time.monotonic()
    parts = urlsplit(url_for("postgres"))
    where = parts.netloc.rpartition("@")[2]
    url = urlunsplit(parts._replace(netloc=f"outlast_no_such_role@{where}"))
    with pytest.raises(StoreError, match="refused the login"):
        PostgresStore(url)
    assert time.monotonic() - started < 5


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
    assert pg._db.committed(committed[0], time.monotonic() + 30, cause) is True
    assert pg._db.committed(aborted[0], time.monotonic() + 30, cause) is False


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
    assert state.output_as() == 120
    assert pg.get_instance(iid).owner is None  # type: ignore[union-attr]


def test_instance_record_roundtrip(pg: PostgresStore) -> None:
    full = InstanceRecord(
        "x", "wf", "PENDING", "x-e1", 1.5, 2.5, '"in"', None, '"cs"', None, "parent", None
    )
    pg.create_instance(full, message("x"))
    assert pg.get_instance("x") == full


# --- round trips ----------------------------------------------------------------------


def test_round_trips(pg: PostgresStore) -> None:
    _create(pg, "warm-up")  # statements are prepared on a connection's first use
    [m] = pg.fetch_messages(W1, 1e9, 10)
    pg.commit(CommitBatch(W1, turns=[turn("warm-up", history=["e0"], consumed=[m.id])]))
    pg.send_messages([message("warm-up", "x")])
    with traced(pg) as round_trips:
        _create(pg, "a")
        assert round_trips() == 2  # the statement, then the COMMIT
        pg.send_messages([message("a", "raised")])
        assert round_trips() == 2
        # A worker's look for work: messages, claims, loads, when next, activities.
        fetched = pg.fetch_messages(W1, 1e9, 10)
        pg.next_visible_at(W1, 1e9)
        assert pg.claim_activities(W1, 10) == []
        assert pg.load_instance("a") is not None
        assert round_trips() == 1
        act = ActivityRecord("a", "a-e1", 0, "step", None, W1)
        batch = CommitBatch(
            W1,
            turns=[
                turn("a", history=["e0", "e1"], consumed=[m.id for m in fetched], activities=[act])
            ],
            finished_activities=[("warm-up", 0)],
            messages=[message("warm-up", "for another instance")],
        )
        assert pg.commit(batch) == set()
        assert round_trips() == 2  # however much the batch holds
        # Children take one more: whether each could be created decides what is sent.
        kids = [_child("k1", "1", parent="a"), _child("k2", "1", parent="a")]
        pg.commit(CommitBatch(W1, turns=[turn("a", start=2, history=["e2"], children=kids)]))
        assert round_trips() == 3
    assert pg.get_history("a") == ["e0", "e1", "e2"]
    assert pg.get_instance("k2") is not None


def test_a_fetch_answers_the_worker_s_next_questions(pg: PostgresStore) -> None:
    _create(pg, "a")
    free = ActivityRecord("a", "a-e1", 0, "step", None, None)
    pg.commit(CommitBatch(W2, turns=[turn("a", activities=[free])]))
    pg.send_messages([message("a", "later", at=500.0)])
    assert pg.fetch_messages(W1, 200.0, 10) == []  # a is W2's
    assert pg.next_visible_at(W1, 200.0) is None  # so is its timer
    assert [a.task_id for a in pg.claim_activities(W1, 10)] == [0]
    # A reap releases activities: a claim right after it must see them, whatever
    # the last fetch found.
    pg.register_worker(W2, "host", 2, expires_at=50.0)
    pg.commit(
        CommitBatch(
            W2, turns=[turn("a", activities=[ActivityRecord("a", "a-e1", 1, "s", None, W2)])]
        )
    )
    assert pg.fetch_messages(W1, 200.0, 10) == []
    assert pg.reap_workers(100.0, lambda host, pid: False) == 1
    assert [a.task_id for a in pg.claim_activities(W1, 10)] == [1]
    assert pg.next_visible_at(W1, 200.0) == 500.0  # a is nobody's now


def test_a_taken_id_costs_more_round_trips_but_nothing_else(pg: PostgresStore) -> None:
    _create(pg, "a")
    with pytest.raises(InstanceAlreadyExistsError):
        _create(pg, "a")
    assert [m.event for m in pg.fetch_messages(W1, 1e9, 10)] == ["start"]


# --- one statement and its sequential equivalent -------------------------------------
#
# A batch is applied by one statement whose parts run in no particular order, or,
# when it starts children or continues as new with history, one step after the
# other. Either way the outcome must be what applying the batch step by step
# gives: these scenarios run on the SQLite store too, and the outcomes must be
# equal.


def _outcome(store: Store, ids: list[str]) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for iid in ids:
        r = store.get_instance(iid)
        state[iid] = None if r is None else (r.status, r.execution_id, r.owner, r.input)
        state[f"{iid} history"] = store.get_history(iid)
    for worker in (W1, W2):
        store.remove_worker(worker)  # so that one observer sees every message
    # Message IDs order each instance's events; across instances they mean nothing.
    inbox: dict[str, list[tuple[str | None, str, float]]] = {}
    for m in store.fetch_messages("observer", 1e12, 1000):
        inbox.setdefault(m.instance_id, []).append((m.execution_id, m.event, m.visible_at))
    state["inbox"] = inbox
    state["activities"] = sorted(
        (a.instance_id, a.task_id, a.execution_id, a.input)
        for a in store.claim_activities("observer", 100)
    )
    return state


def _same_on_sqlite(
    pg: PostgresStore, tmp_path: Path, scenario: Callable[[Store], list[str]]
) -> None:
    sqlite = SqliteStore(tmp_path / "reference.db")
    try:
        expected = _outcome(sqlite, scenario(sqlite))
    finally:
        sqlite.close()
    assert _outcome(pg, scenario(pg)) == expected


def _ids(store: Store, now: float = 1e9) -> dict[str, list[int]]:
    """The IDs of the visible messages, by event."""
    found: dict[str, list[int]] = {}
    for m in store.fetch_messages(W1, now, 1000):
        found.setdefault(m.event, []).append(m.id)
    return found


def _cleared_with_the_old_run(store: Store) -> list[str]:
    """Continue-as-new clears what the same batch sent the old run."""
    _create(store, "a")
    _create(store, "b")
    act = ActivityRecord("a", "a-e1", 0, "step", None, W1)
    store.commit(CommitBatch(W1, turns=[turn("a", history=["e0"], activities=[act])]))
    store.send_messages([message("a", "old-timer", at=5e9, execution="a-e1")])
    ids = _ids(store)
    t = turn("a", start=0, status="CONTINUED_AS_NEW", reset_history=True, consumed=ids["start"][:1])
    t.update.new_execution_id = "a-e2"
    t.update.new_input = '"next"'
    t.messages = [message("a", "start2", execution="a-e2")]
    late = [m for m in store.fetch_messages(W1, 1e10, 100) if m.event == "old-timer"]
    store.commit(
        CommitBatch(
            W1,
            turns=[t, turn("b", history=["b0"], messages=[message("a", "from-b")])],
            messages=[
                message("a", "result-for-old-run", execution="a-e1"),
                message("a", "raised"),
            ],
            # Brought forward, but cleared with the old run all the same.
            rescheduled=[(late[0].id, 100.0)],
            finished_activities=[("a", 0)],
        )
    )
    return ["a", "b"]


def _deleted_and_rescheduled(store: Store) -> list[str]:
    """Messages deleted (consumed, dropped) and rescheduled stay deleted."""
    _create(store, "a")
    store.send_messages([message("a", f"m{n}") for n in range(4)])
    ids = _ids(store)
    store.commit(
        CommitBatch(
            W1,
            turns=[turn("a", history=["e0"], consumed=ids["m0"] + ids["start"])],
            dropped_messages=ids["m1"],
            rescheduled=[(ids[e][0], 7e9) for e in ("m0", "m1", "m2")],
        )
    )
    return ["a"]


def _finished_and_scheduled_again(store: Store) -> list[str]:
    """An activity finished and scheduled again in one batch stays scheduled."""
    act = ActivityRecord("a", "a-e1", 0, "step", '"1"', None)
    store.create_instance(
        record("a"), message("a", execution="a-e1"), history=["e0"], activities=[act]
    )
    again = ActivityRecord("a", "a-e1", 0, "step", '"2"', None)
    store.commit(
        CommitBatch(
            W1,
            turns=[turn("a", start=1, history=["e1"], activities=[again])],
            finished_activities=[("a", 0)],
        )
    )
    return ["a"]


def _fallbacks_in_order(store: Store) -> list[str]:
    """Rejected turns send their fallbacks, in turn order among the others' messages."""
    for iid in ("a", "b", "c"):
        _create(store, iid)
    store.commit(CommitBatch(W2, turns=[turn("b", history=["b0"])]))  # b is W2's
    store.commit(
        CommitBatch(
            W1,
            messages=[message("c", "batch-1"), message("a", "batch-2")],
            turns=[
                turn("a", history=["a0"], messages=[message("a", "a-1"), message("c", "a-2")]),
                turn("b", start=1, history=["no"], fallback=[message("b", "fallback-b")]),
                turn("c", history=["c0"], messages=[message("c", "c-1")]),
            ],
        )
    )
    store.send_messages([message("c", "after")])
    return ["a", "b", "c"]


def _child(iid: str, tag: str, parent: str = "p") -> ChildStart:
    return ChildStart(
        InstanceRecord(
            iid, "child", "PENDING", f"{iid}-{tag}", 150.0, 150.0, parent_instance_id=parent
        ),
        message(iid, f"start-{iid}-{tag}", execution=f"{iid}-{tag}"),
        message(parent, f"conflict-{iid}-{tag}", execution=f"{parent}-e1"),
    )


def _children_among_other_turns(store: Store) -> list[str]:
    """Children created, refused (twice the same ID, an unfinished instance) and
    replacing a finished instance, next to other turns and a rejected one."""
    for iid in ("p", "q", "busy", "old", "other"):
        _create(store, iid)
    store.commit(CommitBatch(W1, turns=[turn("old", status="COMPLETED", release=True)]))
    store.commit(CommitBatch(W2, turns=[turn("other", history=["o0"])]))
    store.commit(
        CommitBatch(
            W1,
            turns=[
                turn(
                    "p",
                    history=["p0"],
                    children=[_child("new", "1"), _child("busy", "1"), _child("old", "1")],
                    messages=[message("p", "p-timer")],
                ),
                turn("q", history=["q0"], children=[_child("new", "2", "q")]),
                turn("other", start=1, history=["x"], fallback=[message("other", "fb")]),
            ],
            messages=[message("old", "to-the-finished-one", execution="old-e1")],
        )
    )
    return ["p", "q", "busy", "old", "new", "other"]


def _continued_with_history(store: Store) -> list[str]:
    """Continue-as-new with history of its own replaces the old history."""
    _create(store, "a")
    _create(store, "b")
    store.commit(CommitBatch(W1, turns=[turn("a", history=["e0", "e1", "e2"])]))
    t = turn("a", start=0, history=["n0", "n1"], reset_history=True)
    t.update.new_execution_id = "a-e2"
    store.commit(CommitBatch(W1, turns=[t, turn("b", history=["b0"])]))
    return ["a", "b"]


SCENARIOS = [
    _cleared_with_the_old_run,
    _deleted_and_rescheduled,
    _finished_and_scheduled_again,
    _fallbacks_in_order,
    _children_among_other_turns,
    _continued_with_history,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__.strip("_"))
def test_batches_end_as_if_applied_in_order(
    pg: PostgresStore, tmp_path: Path, scenario: Callable[[Store], list[str]]
) -> None:
    _same_on_sqlite(pg, tmp_path, scenario)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__.strip("_"))
def test_documents_too_big_for_jsonb_go_as_json(
    pg: PostgresStore,
    tmp_path: Path,
    scenario: Callable[[Store], list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(prepared, "JSONB_MAX_BYTES", 0)  # every document is "too big"
    _same_on_sqlite(pg, tmp_path, scenario)


def _commit_together(commits: list[tuple[PostgresStore, CommitBatch]]) -> list[BaseException]:
    """Commit batches from as many threads at the same moment; the errors."""
    barrier = threading.Barrier(len(commits))
    errors: list[BaseException] = []

    def commit(store: PostgresStore, batch: CommitBatch) -> None:
        barrier.wait()
        try:
            store.commit(batch)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=commit, args=c) for c in commits]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_batches_over_the_same_instances_in_any_order_do_not_deadlock(
    pg_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="outlast.store.postgres")
    stores = [PostgresStore(pg_database) for _ in range(2)]
    stores[0].reset()
    try:
        for rnd in range(10):
            ids = [f"i{n:02}-{rnd}" for n in range(20)]
            for iid in ids:
                _create(stores[0], iid)
            forward = CommitBatch(W1, turns=[turn(i, history=[W1]) for i in ids])
            backward = CommitBatch(W2, turns=[turn(i, history=[W2]) for i in reversed(ids)])
            assert _commit_together([(stores[0], forward), (stores[1], backward)]) == []
            for iid in ids:
                # Each instance took exactly one of the two turns.
                assert stores[0].get_history(iid) in ([W1], [W2])
    finally:
        for s in stores:
            s.close()
    assert "deadlock" not in caplog.text


def test_a_create_run_again_after_its_answer_was_lost_is_not_refused(
    pg: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A COMMIT that went through and an answer lost with the connection: the
    # store runs the body again, as its retry does (the terminated-backends fault
    # test meets this for real, in some runs). The second run finds the row its
    # first one wrote; that is success, not "already exists".
    transact = pg._db.transact

    def committed_then_retried(what: str, body: Any, **kwargs: Any) -> Any:
        transact(what, body, **kwargs)
        return transact(what, body, **kwargs)

    monkeypatch.setattr(pg._db, "transact", committed_then_retried)
    created = record("again")
    pg.create_instance(created, message("again", execution=created.execution_id))
    monkeypatch.undo()
    assert [m.instance_id for m in pg.fetch_messages(W1, 1e12, 10)] == ["again"]
    with pytest.raises(InstanceAlreadyExistsError):  # another call is refused as ever
        pg.create_instance(created, message("again", execution=created.execution_id))


def test_big_status_counts_are_the_planners_estimates(
    pg: PostgresStore, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from outlast.store.base import InstanceQuery
    from outlast.store.postgres import counts as pg_store

    for n in range(5):
        _create(pg, f"c{n}")
    monkeypatch.setattr(pg_store, "EXACT_COUNT_UP_TO", 3)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("ANALYZE outlast_instances")
    counts = pg.count_instances(InstanceQuery())
    assert counts.by_status == {"PENDING": 5} and not counts.exact
    monkeypatch.setattr(pg_store, "EXACT_COUNT_UP_TO", 10)
    assert pg.count_instances(InstanceQuery()).exact


def test_id_prefixes_under_any_collation(pg: PostgresStore) -> None:
    from outlast.store.base import InstanceQuery
    from outlast.store.postgres import counts as pg_store

    for iid in ("ab-1", "ab_2", "abc", "b-ab"):
        _create(pg, iid)
    pg._prefix_sql = pg_store.PREFIX_ANY  # as on a database with an ICU or en_US collation
    found = pg.list_instances(InstanceQuery(instance_id_prefix="ab"))
    assert sorted(r.instance_id for r in found) == ["ab-1", "ab_2", "abc"]
    assert pg.count_instances(InstanceQuery(instance_id_prefix="ab-")).by_status == {"PENDING": 1}
