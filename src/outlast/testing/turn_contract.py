"""Part of the store contract: turns, committed by the instance's owner or not at
all, each batch all or nothing (children, continue-as-new, custom status too)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from outlast.store.base import (
    ActivityRecord,
    ChildStart,
    CommitBatch,
    InstanceQuery,
    InstanceRecord,
    Store,
)
from outlast.testing.store_records import W1, W2, message, turn


class TurnContract:
    if TYPE_CHECKING:  # StoreContract's

        def _create(self, store: Store, iid: str, **kw: object) -> None: ...

    def test_turn_appends_history_consumes_and_claims(self, store: Store) -> None:
        self._create(store, "a")
        [m] = store.fetch_messages(W1, 1000.0, 10)
        act = ActivityRecord("a", "a-e1", 0, "step", '"in"', W1)
        timer = message("a", "fired", at=900.0, execution="a-e1")
        rejected = store.commit(
            CommitBatch(
                W1,
                turns=[
                    turn(
                        "a",
                        history=["e0", "e1"],
                        consumed=[m.id],
                        activities=[act],
                        messages=[timer],
                    )
                ],
            )
        )
        assert rejected == set()
        assert store.get_history("a") == ["e0", "e1"]
        got = store.get_instance("a")
        assert got is not None and (got.status, got.owner) == ("RUNNING", W1)
        assert store.fetch_messages(W1, 800.0, 10) == []
        assert store.fetch_messages(W2, 1000.0, 10) == []  # owned by W1
        assert [x.event for x in store.fetch_messages(W1, 1000.0, 10)] == ["fired"]
        assert store.load_instance("a") == (got, ["e0", "e1"])

    def test_owner_turns_that_change_only_the_time_then_more(self, store: Store) -> None:
        # Stores may write a turn that changes nothing but the update time more
        # cheaply; what a reader sees must not differ.
        self._create(store, "a")
        store.commit(CommitBatch(W1, turns=[turn("a", history=["e0"])]))
        later = turn("a", start=1, history=["e1"])
        later.update.updated_at = 300.0
        assert store.commit(CommitBatch(W1, turns=[later])) == set()
        got = store.get_instance("a")
        assert got is not None
        assert (got.status, got.owner, got.updated_at) == ("RUNNING", W1, 300.0)
        assert store.fetch_messages(W2, 1000.0, 10) == []  # still W1's
        suspended = turn("a", start=2, history=["e2"], status="SUSPENDED")
        suspended.update.updated_at = 400.0
        suspended.update.custom_status = '"paused"'
        suspended.update.set_custom_status = True
        store.commit(CommitBatch(W1, turns=[suspended]))
        got = store.get_instance("a")
        assert got is not None
        assert (got.status, got.updated_at, got.custom_status) == ("SUSPENDED", 400.0, '"paused"')
        done = turn("a", start=3, history=["e3"], status="COMPLETED", release=True)
        done.update.output = '"ok"'
        store.commit(CommitBatch(W1, turns=[done]))
        got = store.get_instance("a")
        assert got is not None
        assert (got.status, got.owner, got.output) == ("COMPLETED", None, '"ok"')
        assert store.get_history("a") == ["e0", "e1", "e2", "e3"]

    def test_load_instances_reads_many_at_once(self, store: Store) -> None:
        for iid in ("a", "b", "c"):
            self._create(store, iid)
        store.commit(CommitBatch(W1, turns=[turn("a", history=["a0", "a1"])]))
        store.commit(CommitBatch(W1, turns=[turn("a", start=2, history=["a2"])]))
        store.commit(CommitBatch(W1, turns=[turn("c", history=["c0"])]))
        loaded = store.load_instances(["a", "missing", "b", "c"])
        assert sorted(loaded) == ["a", "b", "c"]
        assert loaded["a"] == store.load_instance("a")
        assert loaded["a"][1] == ["a0", "a1", "a2"]
        assert loaded["b"][1] == [] and loaded["c"][1] == ["c0"]
        assert store.load_instances([]) == {}

    def test_turn_of_instance_owned_elsewhere_is_rejected(self, store: Store) -> None:
        self._create(store, "a")
        store.commit(CommitBatch(W1, turns=[turn("a", history=["e0"])]))
        fallback = message("a", "result", execution="a-e1")
        rejected = store.commit(
            CommitBatch(W2, turns=[turn("a", start=1, history=["bad"], fallback=[fallback])])
        )
        assert rejected == {"a"}
        assert store.get_history("a") == ["e0"]
        assert "result" in [m.event for m in store.fetch_messages(W1, 1000.0, 10)]

    def test_turn_for_finished_instance_is_rejected(self, store: Store) -> None:
        self._create(store, "a")
        store.commit(
            CommitBatch(W1, turns=[turn("a", history=["e0"], status="COMPLETED", release=True)])
        )
        late = turn("a", start=1, history=[], status="RUNNING")  # a stale cache elsewhere
        assert store.commit(CommitBatch(W2, turns=[late])) == {"a"}
        assert store.get_instance("a").status == "COMPLETED"  # type: ignore[union-attr]

    def test_turn_for_replaced_execution_is_rejected(self, store: Store) -> None:
        self._create(store, "a")
        stale = turn("a", history=["e0"])
        stale.execution_id = "old"
        assert store.commit(CommitBatch(W1, turns=[stale])) == {"a"}

    def test_release_and_custom_status(self, store: Store) -> None:
        self._create(store, "a")
        t = turn("a", status="COMPLETED", release=True)
        t.update.output = '"done"'
        t.update.custom_status = '"50%"'
        t.update.set_custom_status = True
        store.commit(CommitBatch(W1, turns=[t]))
        got = store.get_instance("a")
        assert got is not None
        assert (got.owner, got.output, got.custom_status) == (None, '"done"', '"50%"')

    def test_continue_as_new_resets_history(self, store: Store) -> None:
        self._create(store, "a")
        store.commit(CommitBatch(W1, turns=[turn("a", history=["e0", "e1"])]))
        store.send_messages([message("a", "raised")])
        t = turn("a", start=0, status="CONTINUED_AS_NEW", reset_history=True)
        t.update.new_execution_id = "a-e2"
        t.update.new_input = '"next"'
        t.messages = [message("a", "start2", execution="a-e2")]
        store.commit(CommitBatch(W1, turns=[t]))
        got = store.get_instance("a")
        assert got is not None and (got.execution_id, got.input) == ("a-e2", '"next"')
        assert store.get_history("a") == []
        pending = [m.event for m in store.fetch_messages(W1, 1000.0, 10)]
        assert pending == ["raised", "start2"]  # un-addressed events carry over

    def test_children_created_or_conflict_reported(self, store: Store) -> None:
        self._create(store, "p")
        self._create(store, "busy")
        child = ChildStart(
            InstanceRecord("c", "child", "PENDING", "c-e1", 150.0, 150.0, parent_instance_id="p"),
            message("c", "child-start", execution="c-e1"),
            message("p", "conflict-c", execution="p-e1"),
        )
        clash = ChildStart(
            InstanceRecord("busy", "child", "PENDING", "b-e2", 150.0, 150.0),
            message("busy", "never", execution="b-e2"),
            message("p", "conflict-busy", execution="p-e1"),
        )
        store.commit(CommitBatch(W1, turns=[turn("p", children=[child, clash])]))
        c = store.get_instance("c")
        assert c is not None and c.parent_instance_id == "p"
        events = {m.event for m in store.fetch_messages(W1, 1000.0, 20)}
        assert {"child-start", "conflict-busy"} <= events
        assert "never" not in events and "conflict-c" not in events
        kids = store.list_instances(InstanceQuery(parent_instance_id="p"))
        assert [k.instance_id for k in kids] == ["c"]

    def test_batch_is_atomic_on_failure(self, store: Store) -> None:
        self._create(store, "a")
        bad = turn("a", history=["e0"])
        bad.history_start = 0
        store.commit(CommitBatch(W1, turns=[bad]))
        dup = turn("a", start=0, history=["again"])  # same sequence number: must fail
        with pytest.raises(Exception):  # noqa: B017 - any backend error is acceptable
            store.commit(CommitBatch(W1, turns=[dup], messages=[message("a", "must-not-appear")]))
        assert store.get_history("a") == ["e0"]
        assert "must-not-appear" not in [m.event for m in store.fetch_messages(W1, 1e9, 10)]
