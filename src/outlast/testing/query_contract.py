"""The store contract's queries: listing with filters and pages, counts by
status, pending activities. ``StoreContract`` includes them; see there."""

from __future__ import annotations

from outlast.store.base import ActivityRecord, CommitBatch, InstanceQuery, Store
from outlast.testing.store_records import W1, W2, create, message, record, turn


class QueryContract:
    def test_list_filters_and_pages(self, store: Store) -> None:
        for n in range(5):
            create(store, f"i{n}", created=100.0 + n)
        store.commit(CommitBatch(W1, turns=[turn("i1", status="COMPLETED", release=True)]))
        page = store.list_instances(InstanceQuery(limit=2))
        assert [r.instance_id for r in page] == ["i0", "i1"]
        page = store.list_instances(InstanceQuery(limit=10, after=(101.0, "i1")))
        assert [r.instance_id for r in page] == ["i2", "i3", "i4"]
        done = store.list_instances(InstanceQuery(statuses=["COMPLETED"]))
        assert [r.instance_id for r in done] == ["i1"]
        window = store.list_instances(InstanceQuery(created_after=102.0, created_before=104.0))
        assert [r.instance_id for r in window] == ["i2", "i3"]
        assert store.list_instances(InstanceQuery(name="other")) == []
        stale = store.list_instances(InstanceQuery(statuses=["COMPLETED"], updated_before=300.0))
        assert [r.instance_id for r in stale] == ["i1"]  # finished at 200
        assert store.list_instances(InstanceQuery(updated_before=150.0)) == [
            r for r in store.list_instances(InstanceQuery()) if r.updated_at < 150.0
        ]

    def test_list_by_id_prefix_and_parent(self, store: Store) -> None:
        for iid in ("ab-1", "ab-2", "ab_3", "abc", "b-ab", "AB-4"):
            create(store, iid)
        child = record("ab-1-0")
        child.parent_instance_id = "ab-1"
        store.create_instance(child, message("ab-1-0"))
        found = store.list_instances(InstanceQuery(instance_id_prefix="ab-"))
        assert sorted(r.instance_id for r in found) == ["ab-1", "ab-1-0", "ab-2"]
        assert [
            r.instance_id for r in store.list_instances(InstanceQuery(instance_id_prefix="abc"))
        ] == ["abc"]
        assert store.list_instances(InstanceQuery(instance_id_prefix="zz")) == []
        kids = store.list_instances(InstanceQuery(parent_instance_id="ab-1"))
        assert [r.instance_id for r in kids] == ["ab-1-0"]

    def test_count_by_status_with_filters(self, store: Store) -> None:
        for n in range(6):
            create(store, f"c{n}", created=100.0 + n)
        store.commit(
            CommitBatch(
                W1,
                turns=[
                    turn("c0", status="COMPLETED", release=True),
                    turn("c1", status="COMPLETED", release=True),
                    turn("c2", status="FAILED", release=True),
                    turn("c3"),
                ],
            )
        )
        counts = store.count_instances(InstanceQuery())
        assert counts.by_status == {"COMPLETED": 2, "FAILED": 1, "RUNNING": 1, "PENDING": 2}
        assert counts.exact
        only = store.count_instances(InstanceQuery(statuses=["COMPLETED", "STALLED"]))
        assert only.by_status == {"COMPLETED": 2}
        window = store.count_instances(InstanceQuery(created_after=101.0, created_before=104.0))
        assert window.by_status == {"COMPLETED": 1, "FAILED": 1, "RUNNING": 1}
        assert store.count_instances(InstanceQuery(instance_id_prefix="c5")).by_status == {
            "PENDING": 1
        }
        assert store.count_instances(InstanceQuery(name="other")).by_status == {}
        capped = store.count_instances(InstanceQuery(name="wf"), cap=3)
        assert sum(capped.by_status.values()) >= 3
        assert capped.exact == (sum(capped.by_status.values()) == 6)  # memory counts all

    def test_pending_activities_name_their_owner(self, store: Store) -> None:
        create(store, "a")
        create(store, "b")
        acts = [
            ActivityRecord("a", "a-e1", 2, "two", '"y"', None),
            ActivityRecord("a", "a-e1", 1, "one", '"x"', W1),
        ]
        other = ActivityRecord("b", "b-e1", 1, "elsewhere", None, W2)
        store.commit(
            CommitBatch(
                W1,
                turns=[
                    turn("a", history=["e0"], activities=acts),
                    turn("b", history=["e0"], activities=[other]),
                ],
            )
        )
        assert store.pending_activities("a") == [acts[1], acts[0]]
        store.commit(CommitBatch(W1, finished_activities=[("a", 1)]))
        assert store.pending_activities("a") == [acts[0]]
        assert store.pending_activities("missing") == []
