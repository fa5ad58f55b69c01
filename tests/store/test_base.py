"""The store base class's in-process wake-ups."""

from outlast.store import MemoryStore
from outlast.store.base import CommitBatch
from outlast.testing.store_contract import W1, message, record, turn


def test_watchers_sleep_through_changes_to_statuses_they_do_not_wait_for() -> None:
    store = MemoryStore()
    store.create_instance(record("a"), message("a"))
    with (
        store.watch("a", frozenset({"COMPLETED"})) as done,
        store.watch("a") as any_change,
    ):
        store.commit(CommitBatch(W1, turns=[turn("a", history=["e0"])]))  # now RUNNING
        assert any_change.is_set() and not done.is_set()
        any_change.clear()
        store.signal(["a"])  # a change of unknown kind wakes everyone watching "a"
        assert any_change.is_set() and done.is_set()
        done.clear()
        store.commit(CommitBatch(W1, turns=[turn("a", start=1, status="COMPLETED", release=True)]))
        assert done.is_set()
    assert not store._watchers  # watching ends with the block


def test_a_client_waiting_for_completion_wakes_for_it() -> None:
    import threading

    import outlast

    store = MemoryStore()
    client = outlast.WorkflowClient(store=store)
    store.create_instance(record("a"), message("a"))
    got: list[object] = []
    waiter = threading.Thread(
        target=lambda: got.append(client.wait_for_workflow_completion("a", timeout_in_seconds=5))
    )
    waiter.start()
    store.commit(CommitBatch(W1, turns=[turn("a", history=["e0"])]))
    done = turn("a", start=1, status="COMPLETED", release=True)
    done.update.output = '"ok"'
    store.commit(CommitBatch(W1, turns=[done]))
    waiter.join(5)
    [state] = got
    assert state.runtime_status is outlast.WorkflowStatus.COMPLETED  # type: ignore[attr-defined]
