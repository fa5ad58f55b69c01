"""The contract every store backend passes. Subclass it in a test module::

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            s = MyStore(...)
            yield s
            s.close()

Each test speaks only the ``Store`` interface, in records and bytes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from outlast.errors import InstanceAlreadyExistsError, InvalidStateError
from outlast.store.base import (
    ActivityRecord,
    CommitBatch,
    QueueStats,
    Store,
)
from outlast.testing.claim_contract import ClaimContract
from outlast.testing.flow_contract import FlowContract
from outlast.testing.query_contract import QueryContract
from outlast.testing.schedule_contract import ScheduleContract
from outlast.testing.store_records import W1, W2, create, message, record, turn
from outlast.testing.turn_contract import TurnContract


class StoreContract(TurnContract, QueryContract, ScheduleContract, FlowContract, ClaimContract):
    @pytest.fixture
    def store(self) -> Iterator[Store]:
        raise NotImplementedError("subclasses provide a store fixture")

    def _create(self, store: Store, iid: str, **kw: object) -> None:
        create(store, iid, **kw)

    # --- instances ------------------------------------------------------------------

    def test_create_and_get(self, store: Store) -> None:
        self._create(store, "a")
        got = store.get_instance("a")
        assert got is not None
        assert (got.name, got.status, got.input, got.owner) == ("wf", "PENDING", '{"x":1}', None)
        assert store.get_instance("missing") is None

    def test_create_with_seeded_history_and_activities(self, store: Store) -> None:
        act = ActivityRecord("r", "r-e1", 3, "step", '"x"', None)
        store.create_instance(
            record("r"),
            message("r", "wake", execution="r-e1"),
            history=["h0", "h1"],
            activities=[act],
        )
        assert store.get_history("r") == ["h0", "h1"]
        [claimed] = store.claim_activities(W1, 10)
        assert (claimed.instance_id, claimed.task_id, claimed.input) == ("r", 3, '"x"')
        store.commit(CommitBatch(W1, turns=[turn("r", start=2, history=["h2"])]))
        assert store.get_history("r") == ["h0", "h1", "h2"]

    def test_large_values_round_trip(self, store: Store) -> None:
        big = '"' + "payload " * 20_000 + '"'
        rec = record("big")
        rec.input = big
        store.create_instance(rec, message("big", big, execution="big-e1"), history=[big])
        act = ActivityRecord("big", "big-e1", 0, "step", big, None)
        t = turn("big", start=1, history=[big], activities=[act])
        t.update.output = big
        t.update.custom_status = big
        t.update.set_custom_status = True
        store.commit(CommitBatch(W1, turns=[t]))
        got = store.get_instance("big")
        assert got is not None and got.input == big and got.output == big
        assert got.custom_status == big
        assert store.get_history("big") == [big, big]
        assert [m.event for m in store.fetch_messages(W1, 1000.0, 10)] == [big]
        store.remove_worker(W1)
        assert [a.input for a in store.claim_activities(W2, 10)] == [big]

    def test_create_duplicate_active_instance_fails(self, store: Store) -> None:
        self._create(store, "a")
        with pytest.raises(InstanceAlreadyExistsError):
            self._create(store, "a")
        assert len(store.fetch_messages(W1, 1000.0, 10)) == 1

    def test_create_replaces_finished_instance(self, store: Store) -> None:
        self._create(store, "a")
        [m] = store.fetch_messages(W1, 1000.0, 10)
        store.commit(
            CommitBatch(
                W1,
                turns=[
                    turn("a", history=["e0"], status="COMPLETED", consumed=[m.id], release=True)
                ],
            )
        )
        self._create(store, "a")
        assert store.get_history("a") == []
        assert store.get_instance("a").status == "PENDING"  # type: ignore[union-attr]

    def test_purge_only_finished(self, store: Store) -> None:
        self._create(store, "a")
        with pytest.raises(InvalidStateError):
            store.purge_instances(["a"])
        store.commit(
            CommitBatch(W1, turns=[turn("a", history=["x"], status="FAILED", release=True)])
        )
        assert store.purge_instances(["a", "missing"]) == 1
        assert store.get_instance("a") is None
        assert store.get_history("a") == []

    def test_set_status_if(self, store: Store) -> None:
        self._create(store, "a")
        assert not store.set_status_if("a", "STALLED", "RUNNING", 5.0)
        assert store.set_status_if("a", "PENDING", "RUNNING", 5.0)
        assert store.get_instance("a").status == "RUNNING"  # type: ignore[union-attr]

    # --- inbox ----------------------------------------------------------------------

    def test_messages_visible_in_order_and_by_time(self, store: Store) -> None:
        self._create(store, "a")
        store.send_messages([message("a", "later", at=500.0), message("a", "now", at=100.0)])
        events = [m.event for m in store.fetch_messages(W1, 200.0, 10)]
        assert events == ["start", "now"]
        assert store.next_visible_at(W1, 200.0) == 500.0
        assert [m.event for m in store.fetch_messages(W1, 600.0, 10)][-1] == "later"

    def test_queue_stats_count_what_is_due_and_the_unfinished_activities(
        self, store: Store
    ) -> None:
        assert store.queue_stats(1000.0) == QueueStats(0, None, 0)
        self._create(store, "a")  # its start is visible from 100
        store.send_messages([message("a", "later", at=500.0), message("a", "early", at=50.0)])
        act = ActivityRecord("a", "a-e1", 0, "step", None, None)
        store.create_instance(record("b"), message("b", at=700.0), activities=[act])
        assert store.queue_stats(200.0) == QueueStats(2, 50.0, 1)
        assert store.queue_stats(1000.0) == QueueStats(4, 50.0, 1)

    def test_fetch_respects_limit(self, store: Store) -> None:
        for n in range(5):
            self._create(store, f"i{n}")
        assert len(store.fetch_messages(W1, 1000.0, 3)) == 3

    def test_stalled_instances_are_not_fetched(self, store: Store) -> None:
        self._create(store, "a")
        store.commit(CommitBatch(W1, turns=[turn("a", status="STALLED", release=True)]))
        assert store.fetch_messages(W1, 1000.0, 10) == []
        store.set_status_if("a", "STALLED", "RUNNING", 1.0)
        assert len(store.fetch_messages(W1, 1000.0, 10)) == 1

    # --- workers and activities -----------------------------------------------------

    def test_owned_activities_lists_what_a_worker_owns(self, store: Store) -> None:
        self._create(store, "a")
        mine = ActivityRecord("a", "a-e1", 1, "step", '"x"', W1)
        store.commit(CommitBatch(W1, turns=[turn("a", history=["e0"], activities=[mine])]))
        assert store.owned_activities(W1) == [mine]
        assert store.owned_activities(W2) == []
        store.commit(CommitBatch(W1, finished_activities=[("a", 1)]))
        assert store.owned_activities(W1) == []

    def test_dead_worker_releases_instances_and_activities(self, store: Store) -> None:
        store.register_worker(W1, "host", 1, expires_at=50.0)
        store.register_worker(W2, "host", 2, expires_at=10_000.0)
        self._create(store, "a")
        act = ActivityRecord("a", "a-e1", 0, "step", None, W1)
        store.commit(CommitBatch(W1, turns=[turn("a", activities=[act])]))
        assert store.claim_activities(W2, 10) == []
        assert store.reap_workers(100.0, lambda host, pid: False) == 1
        assert store.get_instance("a").owner is None  # type: ignore[union-attr]
        claimed = store.claim_activities(W2, 10)
        assert [(c.instance_id, c.task_id, c.owner) for c in claimed] == [("a", 0, W2)]
        assert store.claim_activities(W2, 10) == []

    def test_activity_attempt_and_options_round_trip(self, store: Store) -> None:
        self._create(store, "a")
        act = ActivityRecord("a", "a-e1", 2, "step", None, None, 3, '{"hb":1.5}')
        store.commit(CommitBatch(W1, turns=[turn("a", activities=[act])]))
        assert store.pending_activities("a") == [act]
        [claimed] = store.claim_activities(W2, 10)
        assert (claimed.attempt, claimed.options) == (3, '{"hb":1.5}')
        assert [(o.attempt, o.options) for o in store.owned_activities(W2)] == [(3, '{"hb":1.5}')]

    def test_a_worker_that_goes_away_counts_an_attempt(self, store: Store) -> None:
        store.register_worker(W1, "host", 1, expires_at=50.0)
        store.register_worker(W2, "host", 2, expires_at=10_000.0)
        self._create(store, "a")
        act = ActivityRecord("a", "a-e1", 0, "step", None, W1)
        store.commit(CommitBatch(W1, turns=[turn("a", activities=[act])]))
        assert store.reap_workers(100.0, lambda host, pid: False) == 1
        [claimed] = store.claim_activities(W2, 10)
        assert claimed.attempt == 2
        store.remove_worker(W2)
        [again] = store.claim_activities(W1, 10)
        assert again.attempt == 3

    def test_reap_uses_liveness_check(self, store: Store) -> None:
        store.register_worker(W1, "host", 1, expires_at=10_000.0)
        assert store.reap_workers(100.0, lambda host, pid: pid == 1) == 1
        assert store.reap_workers(100.0, lambda host, pid: True) == 0

    def test_heartbeat_extends_lease(self, store: Store) -> None:
        store.register_worker(W1, "host", 1, expires_at=50.0)
        store.heartbeat(W1, 500.0)
        assert store.reap_workers(100.0, lambda host, pid: False) == 0

    def test_heartbeat_of_a_reaped_live_worker_registers_it_again(self, store: Store) -> None:
        store.register_worker(W1, "host", 1, expires_at=50.0)
        assert store.reap_workers(100.0, lambda host, pid: False) == 1
        store.heartbeat(W1, 500.0)  # it was only cut off, and must stay reapable
        assert store.reap_workers(600.0, lambda host, pid: False) == 1

    def test_finished_activities_are_deleted(self, store: Store) -> None:
        self._create(store, "a")
        act = ActivityRecord("a", "a-e1", 0, "step", None, None)
        store.commit(CommitBatch(W1, turns=[turn("a", activities=[act])]))
        store.commit(CommitBatch(W1, finished_activities=[("a", 0)]))
        assert store.claim_activities(W2, 10) == []

    def test_remove_worker_releases(self, store: Store) -> None:
        store.register_worker(W1, "host", 1, expires_at=10_000.0)
        self._create(store, "a")
        act = ActivityRecord("a", "a-e1", 0, "step", None, W1)
        store.commit(CommitBatch(W1, turns=[turn("a", activities=[act])]))
        store.remove_worker(W1)
        assert store.get_instance("a").owner is None  # type: ignore[union-attr]
        assert len(store.claim_activities(W2, 10)) == 1

    def test_rescheduled_messages(self, store: Store) -> None:
        self._create(store, "a")
        [m] = store.fetch_messages(W1, 1000.0, 10)
        store.commit(CommitBatch(W1, rescheduled=[(m.id, 5000.0)]))
        assert store.fetch_messages(W1, 1000.0, 10) == []
        assert store.next_visible_at(W1, 1000.0) == 5000.0
        store.commit(CommitBatch(W1, rescheduled=[(m.id, 1000.0)]))
        assert [x.id for x in store.fetch_messages(W1, 1000.0, 10)] == [m.id]

    def test_dropped_messages(self, store: Store) -> None:
        self._create(store, "a")
        [m] = store.fetch_messages(W1, 1000.0, 10)
        store.commit(CommitBatch(W1, dropped_messages=[m.id]))
        assert store.fetch_messages(W1, 1000.0, 10) == []

    # --- notification ---------------------------------------------------------------

    def test_commits_signal_listeners(self, store: Store) -> None:
        calls: list[int] = []
        store.add_listener(lambda: calls.append(1))
        before = store.version
        self._create(store, "a")
        assert calls and store.version > before


__all__ = ["W1", "W2", "StoreContract", "create", "message", "record", "turn"]
