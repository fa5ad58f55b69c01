"""Part of the store contract: claims limited to names (a server whose SDK workers
are away leaves their instances and activities to servers that have some)."""

from __future__ import annotations

from outlast.store.base import ActivityRecord, CommitBatch, Store
from outlast.testing.store_records import W1, W2, message, record, turn


class ClaimContract:
    def _named(self, store: Store, iid: str, name: str) -> None:
        rec = record(iid)
        rec.name = name
        store.create_instance(rec, message(iid, execution=f"{iid}-e1"))

    def test_fetch_claims_only_instances_of_the_names_given(self, store: Store) -> None:
        self._named(store, "a", "mine")
        self._named(store, "b", "theirs")
        [m] = store.fetch_messages(W1, 1000.0, 10, {"mine"})
        assert m.instance_id == "a"
        assert store.fetch_messages(W2, 1000.0, 10, set()) == []
        # An instance the worker owns comes whatever its name.
        store.commit(CommitBatch(W1, turns=[turn("a", history=["e0"], consumed=[m.id])]))
        store.send_messages([message("a", "more", execution="a-e1")])
        assert [x.event for x in store.fetch_messages(W1, 1000.0, 10, set())] == ["more"]
        # Without names, everything claimable comes.
        assert "b" in {x.instance_id for x in store.fetch_messages(W2, 1000.0, 10)}

    def test_claim_activities_only_of_the_names_given(self, store: Store) -> None:
        store.create_instance(
            record("r"),
            message("r", "wake", execution="r-e1"),
            activities=[
                ActivityRecord("r", "r-e1", 3, "step", None, None),
                ActivityRecord("r", "r-e1", 4, "other", None, None),
            ],
        )
        assert store.claim_activities(W1, 10, set()) == []
        assert [a.task_id for a in store.claim_activities(W1, 10, {"other"})] == [4]
        assert [a.task_id for a in store.claim_activities(W2, 10)] == [3]
