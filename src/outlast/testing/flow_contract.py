"""The store contract's flow-control part: queued activities, and what an admission
of a limit gives a worker (running counts across workers, per key, a sliding
rate window, priorities, FIFO within a priority)."""

from __future__ import annotations

from datetime import timedelta

from outlast.core.flow import Limit, Rate
from outlast.store.admission import SLOT_OWNER, SLOT_TASK, slot_name
from outlast.store.base import ActivityRecord, Admission, CommitBatch, Store
from outlast.testing.store_records import W1, W2, create, turn


def queued(
    iid: str, task: int, *, key: str | None = None, priority: int = 0, at: float = 100.0
) -> ActivityRecord:
    """A limited activity as a worker writes it: unowned, in line from ``at``."""
    return ActivityRecord(
        iid,
        f"{iid}-e1",
        task,
        "charge",
        f'"{task}"',
        None,
        key=key,
        priority=priority,
        queued_at=at,
    )


def _schedule(store: Store, iid: str, *acts: ActivityRecord) -> None:
    create(store, iid)
    store.commit(CommitBatch(W1, turns=[turn(iid, activities=list(acts))]))


def _tasks(admitted: list[ActivityRecord]) -> list[tuple[str, int]]:
    return [(a.instance_id, a.task_id) for a in admitted]


class FlowContract:
    def test_a_queued_activity_waits_for_an_admission(self, store: Store) -> None:
        _schedule(store, "a", queued("a", 1))
        [waiting] = store.pending_activities("a")
        assert waiting.waiting_on_limit and waiting.queued_at == 100.0
        assert store.claim_activities(W2, 10) == []  # not for the taking
        [admitted] = store.admit_activities(W2, [Limit("charge", concurrency=1)], 101.0, 10)
        assert (admitted.owner, admitted.input, admitted.queued_at) == (W2, '"1"', 100.0)
        assert not store.pending_activities("a")[0].waiting_on_limit
        assert store.owned_activities(W2) == [admitted]

    def test_concurrency_counts_every_workers_running_activities(self, store: Store) -> None:
        limit = [Limit("charge", concurrency=2)]
        _schedule(store, "a", *(queued("a", n) for n in range(4)))
        assert _tasks(store.admit_activities(W1, limit, 101.0, 1)) == [("a", 0)]
        assert _tasks(store.admit_activities(W2, limit, 101.0, 10)) == [("a", 1)]
        assert store.admit_activities(W1, limit, 101.0, 10) == []
        store.commit(CommitBatch(W1, finished_activities=[("a", 0)]))
        assert _tasks(store.admit_activities(W2, limit, 102.0, 10)) == [("a", 2)]
        # Other names, and activities no limit governs, do not count.
        create(store, "b")
        free = ActivityRecord("b", "b-e1", 0, "charge", None, W1)
        store.commit(CommitBatch(W1, turns=[turn("b", activities=[free])]))
        assert store.admit_activities(W1, limit, 103.0, 10) == []

    def test_per_key_caps_each_key_and_passes_over_a_full_one(self, store: Store) -> None:
        limit = [Limit("charge", per_key=2)]
        keys = ["k1", "k1", "k1", "k2", None]
        _schedule(store, "a", *(queued("a", n, key=k, at=100.0 + n) for n, k in enumerate(keys)))
        assert _tasks(store.admit_activities(W1, limit, 110.0, 10)) == [
            ("a", 0),
            ("a", 1),
            ("a", 3),
            ("a", 4),
        ]
        assert store.admit_activities(W2, limit, 110.0, 10) == []
        store.commit(CommitBatch(W1, finished_activities=[("a", 1)]))
        [third] = store.admit_activities(W2, limit, 111.0, 10)
        assert (third.task_id, third.key) == (2, "k1")

    def test_priority_first_then_first_come_first_served(self, store: Store) -> None:
        limit = [Limit("charge", concurrency=1)]
        line = [(0, 0, 100.0), (1, 5, 103.0), (2, 5, 101.0), (3, 9, 104.0), (4, 0, 99.0)]
        _schedule(store, "a", *(queued("a", t, priority=p, at=at) for t, p, at in line))
        order = []
        for n in range(len(line)):
            [one] = store.admit_activities(W1, limit, 200.0 + n, 10)
            order.append(one.task_id)
            store.commit(CommitBatch(W1, finished_activities=[("a", one.task_id)]))
        assert order == [3, 2, 1, 4, 0]

    def test_rate_is_a_sliding_window(self, store: Store) -> None:
        limit = [Limit("charge", rate=Rate(2, per=timedelta(seconds=10)))]
        _schedule(store, "a", *(queued("a", n) for n in range(6)))
        assert len(store.admit_activities(W1, limit, 100.0, 1)) == 1
        assert len(store.admit_activities(W2, limit, 105.0, 10)) == 1
        assert store.admit_activities(W1, limit, 109.9, 10) == []
        # The start at 100 left the window (and its margin of 0.1 s); the one at
        # 105 is still in it.
        assert store.admit_activities(W1, limit, 110.05, 10) == []
        assert len(store.admit_activities(W1, limit, 110.2, 10)) == 1
        assert store.admit_activities(W2, limit, 114.9, 10) == []
        assert len(store.admit_activities(W2, limit, 120.5, 10)) == 2

    def test_room_bounds_an_admission(self, store: Store) -> None:
        limit = [Limit("charge", concurrency=10)]
        _schedule(store, "a", *(queued("a", n) for n in range(5)))
        assert store.admit_activities(W1, limit, 101.0, 0) == []
        assert len(store.admit_activities(W1, limit, 101.0, 3)) == 3

    def test_a_limit_far_above_the_backlog_does_not_hold_a_worker_to_its_room(
        self, store: Store
    ) -> None:
        _schedule(store, "a", *(queued("a", n) for n in range(8)))
        # Headroom 100 > backlog 5: the worker takes its backlog, as if unlimited.
        far = [Limit("charge", concurrency=100)]
        assert len(store.admit_activities(W1, far, 101.0, 2, backlog=5)) == 5
        # Headroom 3 <= backlog: no more than the room (what it can start now).
        near = [Limit("charge", concurrency=8)]
        assert len(store.admit_activities(W2, near, 101.0, 2, backlog=5)) == 2
        assert len(store.admit_activities(W2, near, 101.0, 2, backlog=5)) == 1

    def test_a_commit_admits_in_its_own_transaction(self, store: Store) -> None:
        create(store, "a")
        limit = [Limit("charge", concurrency=2)]
        batch = CommitBatch(W1, turns=[turn("a", activities=[queued("a", n) for n in range(3)])])
        batch.admission = Admission(limit, 101.0, 10)
        store.commit(batch)
        assert _tasks(batch.admitted) == [("a", 0), ("a", 1)]
        assert all(a.owner == W1 for a in batch.admitted)
        # Finishing one in a commit admits the next in that commit.
        done = CommitBatch(W1, finished_activities=[("a", 0)])
        done.admission = Admission(limit, 102.0, 10)
        store.commit(done)
        assert _tasks(done.admitted) == [("a", 2)]

    def test_a_gone_workers_admitted_activity_queues_again_in_its_place(self, store: Store) -> None:
        store.register_worker(W1, "host", 1, expires_at=50.0)
        store.register_worker(W2, "host", 2, expires_at=10_000.0)
        limit = [Limit("charge", concurrency=1)]
        _schedule(store, "a", queued("a", 0, at=100.0), queued("a", 1, at=101.0))
        assert _tasks(store.admit_activities(W1, limit, 102.0, 10)) == [("a", 0)]
        assert store.reap_workers(103.0, lambda host, pid: False) == 1
        assert store.claim_activities(W2, 10) == []
        [again] = store.admit_activities(W2, limit, 104.0, 10)
        assert (again.task_id, again.attempt) == (0, 2)

    def test_a_workflow_slot_queues_once_and_its_admission_wakes_the_start(
        self, store: Store
    ) -> None:
        store.register_worker(W1, "host", 1, expires_at=50.0)
        limit = [Limit(slot_name("job"), concurrency=1)]
        slots = []
        for iid in ("a", "b"):
            create(store, iid)
            slot = ActivityRecord(iid, "", SLOT_TASK, slot_name("job"), None, queued_at=100.0)
            slots.append(slot)
            # The start is parked until its slot is admitted.
            [start] = [m for m in store.fetch_messages(W1, 100.0, 10) if m.instance_id == iid]
            store.commit(CommitBatch(W1, rescheduled=[(start.id, 500.0)], queued=[slot]))
        assert store.fetch_messages(W1, 101.0, 10) == []
        [admitted] = store.admit_activities(W1, limit, 101.0, 10)
        assert (admitted.instance_id, admitted.owner) == ("a", SLOT_OWNER)
        assert [m.instance_id for m in store.fetch_messages(W1, 101.0, 10)] == ["a"]
        # Queued again (another worker saw the start too): the admitted slot stays.
        store.commit(CommitBatch(W2, queued=[slots[0]]))
        assert store.pending_activities("a")[0].owner == SLOT_OWNER
        # Its worker going away does not release a slot: the instance runs on.
        assert store.reap_workers(200.0, lambda host, pid: False) == 1
        assert store.admit_activities(W2, limit, 201.0, 10) == []
        store.commit(CommitBatch(W2, finished_activities=[("a", SLOT_TASK)]))
        [second] = store.admit_activities(W2, limit, 202.0, 10)
        assert second.instance_id == "b"
        assert "b" in {m.instance_id for m in store.fetch_messages(W2, 202.0, 10)}
