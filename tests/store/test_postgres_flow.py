"""Flow control on PostgreSQL beyond the shared contract: what an admission costs
a commit in round trips, and a commit whose connection broke after its COMMIT."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from outlast.core.flow import Limit, Rate
from outlast.store.base import ActivityRecord, Admission, ChildStart, CommitBatch, InstanceRecord
from outlast.store.postgres import PostgresStore
from outlast.store.postgres.flow import Admitting
from outlast.testing.flow_contract import queued
from outlast.testing.store_records import W1, create, message, turn
from tests.store.round_trips import traced


def _tasks(admitted: list[ActivityRecord]) -> list[tuple[str, int]]:
    return [(a.instance_id, a.task_id) for a in admitted]


@pytest.mark.parametrize(
    "limits",
    [
        [Limit("charge", concurrency=100_000)],
        [
            Limit("charge", concurrency=10, per_key=5, rate=Rate(100, per=timedelta(seconds=1))),
            Limit("other", concurrency=1),
        ],
    ],
    ids=["one limit", "two limits, with a rate"],
)
def test_an_admission_adds_no_round_trip_to_its_commit(
    pg: PostgresStore, limits: list[Limit]
) -> None:
    create(pg, "a")
    create(pg, "b")
    # Warm-up: the statements are prepared on a connection's first use.
    warm = CommitBatch(W1, turns=[turn("b", activities=[queued("b", 0)])])
    warm.admission = Admission(limits, 101.0, 10)
    pg.commit(warm)
    with traced(pg) as round_trips:
        batch = CommitBatch(
            W1,
            turns=[turn("a", activities=[queued("a", n, key="k") for n in range(3)])],
            finished_activities=[("b", 0)],
        )
        batch.admission = Admission(limits, 102.0, 10)
        pg.commit(batch)
        assert round_trips() == 2  # the batch's statement, then the COMMIT, as without
    assert _tasks(batch.admitted) == [("a", 0), ("a", 1), ("a", 2)]
    assert all(a.owner == W1 and a.input == f'"{a.task_id}"' for a in batch.admitted)
    assert [a.owner for a in pg.pending_activities("a")] == [W1, W1, W1]


def test_a_commit_that_held_reports_what_it_admitted_after_a_lost_answer(
    pg: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The COMMIT went out with the admission's updates, then the connection
    # "broke" before their answer was read: the server says the transaction
    # committed, and the admitted rows are read back, not lost to the worker.
    create(pg, "a")
    limit = [Limit("charge", concurrency=2)]
    calls = 0

    def broken(self: Admitting, txn: Any = None) -> list[ActivityRecord]:
        nonlocal calls
        calls += 1
        raise psycopg.OperationalError("connection lost")

    monkeypatch.setattr(Admitting, "collect", broken)
    batch = CommitBatch(W1, turns=[turn("a", activities=[queued("a", n) for n in range(3)])])
    batch.admission = Admission(limit, 101.0, 10)
    assert pg.commit(batch) == set()
    assert calls == 1  # not run again: it committed
    assert _tasks(batch.admitted) == [("a", 0), ("a", 1)]
    assert all(a.owner == W1 for a in batch.admitted)
    assert pg.owned_activities(W1) == batch.admitted
    assert [a.waiting_on_limit for a in pg.pending_activities("a")] == [False, False, True]


def test_a_look_for_work_admits_at_no_cost_without_a_queue(pg: PostgresStore) -> None:
    limit = [Limit("charge", concurrency=1)]
    create(pg, "a")
    pg.commit(CommitBatch(W1, turns=[turn("a", activities=[queued("a", 0), queued("a", 1)])]))
    pg.fetch_messages(W1, 1e9, 10)  # warm-up
    with traced(pg) as round_trips:
        # A look: the fetch also says whether anything waits in a queue.
        pg.fetch_messages(W1, 1e9, 10)
        assert pg.claim_activities(W1, 10) == []
        assert _tasks(pg.admit_activities(W1, limit, 101.0, 10)) == [("a", 0)]
        assert round_trips() == 4  # the fetch; the locks and reads; the updates; the COMMIT
        pg.fetch_messages(W1, 1e9, 10)
        assert pg.admit_activities(W1, limit, 102.0, 10) == []  # a queue, but no room
        round_trips()
        pg.commit(CommitBatch(W1, finished_activities=[("a", 0)]))
        [second] = pg.admit_activities(W1, limit, 103.0, 10)  # no fetch before: a read
        assert second.task_id == 1
        round_trips()
        pg.fetch_messages(W1, 1e9, 10)
        assert pg.admit_activities(W1, limit, 104.0, 10) == []
        assert round_trips() == 1  # the queue is empty, and the fetch said so


def test_a_commit_in_steps_admits_too(pg: PostgresStore) -> None:
    # Starting a child takes the sequential path; the admission follows its
    # statements in the same transaction.
    create(pg, "p")
    child = ChildStart(
        InstanceRecord("kid", "child", "PENDING", "kid-1", 150.0, 150.0, parent_instance_id="p"),
        message("kid", "start", execution="kid-1"),
        message("p", "conflict", execution="p-e1"),
    )
    acts = [queued("p", n, key="k") for n in range(3)]
    batch = CommitBatch(W1, turns=[turn("p", activities=acts, children=[child])])
    batch.admission = Admission([Limit("charge", per_key=2)], 101.0, 10)
    assert pg.commit(batch) == set()
    assert _tasks(batch.admitted) == [("p", 0), ("p", 1)]
    assert pg.get_instance("kid") is not None
    assert [a.waiting_on_limit for a in pg.pending_activities("p")] == [False, False, True]


def test_a_commit_s_own_rows_take_their_place_in_line(pg: PostgresStore) -> None:
    # The commit writes its queued rows owned, then its admission decides as if
    # they had queued: rows waiting before them with the same priority go first,
    # a higher priority goes before those, and what does not fit goes back in line.
    create(pg, "old")
    create(pg, "a")
    limit = [Limit("charge", concurrency=2)]
    first = CommitBatch(W1, turns=[turn("old", activities=[queued("old", 0, at=50.0)])])
    pg.commit(first)  # no admission: it waits
    acts = [queued("a", 0, at=100.0), queued("a", 1, priority=5, at=100.0), queued("a", 2)]
    batch = CommitBatch(W1, turns=[turn("a", activities=acts)])
    batch.admission = Admission(limit, 101.0, 10)
    pg.commit(batch)
    assert _tasks(batch.admitted) == [("a", 1), ("old", 0)]
    assert all(a.owner == W1 for a in batch.admitted)
    waiting = {(a.instance_id, a.task_id) for a in pg.pending_activities("a") if a.owner is None}
    assert waiting == {("a", 0), ("a", 2)}
    assert all(a.waiting_on_limit for a in pg.pending_activities("a") if a.owner is None)


def test_commits_of_many_workers_at_once_keep_the_limit(pg_database: str) -> None:
    # Each commit writes its rows owned before it takes the limit's lock; the
    # check under the lock still sees every committed admission.
    stores = [PostgresStore(pg_database) for _ in range(4)]
    stores[0].reset()
    limit = [Limit("charge", concurrency=5, per_key=3)]
    ids = [f"i{n}" for n in range(8)]
    for iid in ids:
        create(stores[0], iid)
    errors: list[BaseException] = []

    def commit(n: int, iid: str) -> None:
        try:
            acts = [queued(iid, t, key=f"k{t % 2}") for t in range(4)]
            batch = CommitBatch(f"host:{n}:w", turns=[turn(iid, activities=acts)])
            batch.admission = Admission(limit, 101.0, 10)
            stores[n].commit(batch)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=commit, args=(n % 4, iid)) for n, iid in enumerate(ids)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        rows = [a for iid in ids for a in stores[0].pending_activities(iid)]
        running = [a for a in rows if a.owner is not None]
        assert len(rows) == 32 and len(running) == 5
        for key in ("k0", "k1"):
            assert sum(1 for a in running if a.key == key) <= 3
    finally:
        for s in stores:
            s.close()
