"""The asyncio client: every method a coroutine, and waits that hold no thread."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Coroutine, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

import outlast
import outlast.aio
import outlast.dapr.aio
from outlast import WorkflowStatus
from outlast.client import waits
from outlast.store import SqliteStore, Store
from tests.conftest import RuntimeFactory

T = TypeVar("T")


@dataclass
class Receipt:
    order: str
    total: float


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def register(rt: outlast.WorkflowRuntime) -> None:
    @rt.activity
    def price(ctx: outlast.ActivityContext, order: str) -> float:
        return 2.5 * len(order)

    @rt.workflow
    def checkout(ctx: outlast.WorkflowContext, order: str) -> Generator[Any, Any, Receipt]:
        total = yield ctx.call_activity(price, input=order)
        return Receipt(order, total)

    @rt.workflow
    def gate(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, int]:
        extra = yield ctx.wait_for_external_event("go")
        return n + int(extra)


@pytest.fixture
def runtime(make_runtime: RuntimeFactory) -> Iterator[outlast.WorkflowRuntime]:
    rt = make_runtime()
    register(rt)
    with rt:
        yield rt


def test_every_method_of_the_sync_client_is_a_coroutine_here() -> None:
    public = [
        name
        for name, member in inspect.getmembers(outlast.WorkflowClient, inspect.isfunction)
        if not name.startswith("_")
    ]
    assert "wait_for_workflow_completion" in public and "purge_workflows" in public
    for name in public:
        method = getattr(outlast.aio.WorkflowClient, name)
        assert inspect.iscoroutinefunction(method), name
    assert issubclass(outlast.dapr.aio.DaprWorkflowClient, outlast.aio.WorkflowClient)


def test_methods_take_the_parameters_of_the_sync_client() -> None:
    # Those that pass **kwargs through take whatever the sync method takes.
    for name, sync in inspect.getmembers(outlast.WorkflowClient, inspect.isfunction):
        if name.startswith("_"):
            continue
        params = inspect.signature(getattr(outlast.aio.WorkflowClient, name)).parameters
        if any(p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) for p in params.values()):
            continue
        assert list(params) == list(inspect.signature(sync).parameters), name


def test_if_exists_chooses_what_a_start_with_a_taken_id_does(
    runtime: outlast.WorkflowRuntime,
) -> None:
    async def scenario() -> None:
        client = runtime.async_client()
        await client.schedule_new_workflow("gate", input=1, instance_id="taken")
        await client.wait_for_workflow_start("taken", timeout_in_seconds=10)
        with pytest.raises(outlast.InstanceAlreadyExistsError):
            await client.schedule_new_workflow("gate", input=2, instance_id="taken")
        same = await client.schedule_new_workflow(
            "gate", input=2, instance_id="taken", if_exists="return_existing"
        )
        assert same == "taken"
        state = await client.get_workflow_state("taken")
        assert state is not None and state.input_as() == 1  # nothing was started
        await client.schedule_new_workflow(
            "gate", input=10, instance_id="taken", if_exists="terminate_and_restart"
        )
        await client.wait_for_workflow_start("taken", timeout_in_seconds=10)
        await client.raise_workflow_event("taken", "go", data=5)
        done = await client.wait_for_workflow_completion("taken", timeout_in_seconds=10)
        assert done is not None and done.output_as() == 15
        with pytest.raises(ValueError, match="if_exists"):
            await client.schedule_new_workflow("gate", instance_id="t2", if_exists="replace")  # type: ignore[arg-type]

    run(scenario())


def test_start_wait_and_read_the_typed_output(
    runtime: outlast.WorkflowRuntime, store_url: str
) -> None:
    async def scenario() -> None:
        client = outlast.aio.WorkflowClient(store_url)
        iid = await client.schedule_new_workflow("checkout", input="abcd")
        assert isinstance(iid, str)
        started = await client.wait_for_workflow_start(iid, timeout_in_seconds=10)
        assert started is not None and started.runtime_status is not WorkflowStatus.PENDING
        state = await client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
        assert state is not None and state.runtime_status is WorkflowStatus.COMPLETED
        assert state.output_as(Receipt) == Receipt("abcd", 10.0)
        # An ID from schedule_new_workflow(fn) knows the workflow's output type.
        typed = await client.schedule_new_workflow(
            runtime.registry.workflow("checkout").fn, input="xy"
        )
        done = await client.wait_for_workflow_completion(typed, timeout_in_seconds=10)
        assert done is not None and done.output_as() == Receipt("xy", 5.0)
        again = await client.get_workflow_state(typed)
        assert again is not None and again.output_as() == Receipt("xy", 5.0)
        assert await client.get_workflow_state("no-such-instance") is None
        assert await client.wait_for_workflow_completion("no-such-instance") is None

    run(scenario())


def test_signals_history_listing_and_purging(
    runtime: outlast.WorkflowRuntime, store_url: str
) -> None:
    async def scenario() -> None:
        client = runtime.async_client()
        iid = await client.schedule_new_workflow("gate", input=1, instance_id="gate-1")
        await client.wait_for_workflow_start(iid, timeout_in_seconds=10)
        await client.pause_workflow(iid, reason="hold on")
        await client.raise_workflow_event(iid, "go", data=41)
        await client.resume_workflow(iid)
        state = await client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
        assert state is not None and state.output_as() == 42
        kinds = [e["kind"] for e in await client.get_workflow_history(iid)]
        assert "ExecutionSuspended" in kinds and "EventRaised" in kinds

        other = await client.schedule_new_workflow("gate", input=0)
        await client.terminate_workflow(other, output="stop")
        ended = await client.wait_for_workflow_completion(other, timeout_in_seconds=10)
        assert ended is not None and ended.runtime_status is WorkflowStatus.TERMINATED

        page = await client.list_workflows(status="COMPLETED")
        assert [s.instance_id for s in page] == ["gate-1"]
        assert await client.purge_workflow("gate-1") is True
        assert await client.purge_workflows(status=WorkflowStatus.TERMINATED) == 1
        assert len(await client.list_workflows()) == 0

    run(scenario())


def test_rerun_from_an_event(runtime: outlast.WorkflowRuntime) -> None:
    async def scenario() -> None:
        client = runtime.async_client()
        iid = await client.schedule_new_workflow("checkout", input="abc")
        await client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
        history = await client.get_workflow_history(iid)
        scheduled = next(i for i, e in enumerate(history) if e["kind"] == "TaskScheduled")
        new = await client.rerun_workflow_from_event(iid, scheduled, new_input="abcdef")
        state = await client.wait_for_workflow_completion(new, timeout_in_seconds=10)
        assert state is not None and state.output_as(Receipt) == Receipt("abcdef", 15.0)

    run(scenario())


class CountingExecutor(ThreadPoolExecutor):
    """Counts the jobs submitted and not yet done (queued or running)."""

    def __init__(self, workers: int) -> None:
        super().__init__(workers, thread_name_prefix="counted")
        self._lock = threading.Lock()
        self.in_flight = 0
        self.most = 0

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        with self._lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[Any]) -> None:
        with self._lock:
            self.in_flight -= 1

    def reset(self) -> None:
        with self._lock:
            self.most = self.in_flight


def test_many_concurrent_waits_share_one_thread(
    runtime: outlast.WorkflowRuntime, store_url: str
) -> None:
    count = 300
    sync = runtime.client()
    ids = [sync.schedule_new_workflow("gate", input=i, instance_id=f"g{i}") for i in range(count)]
    for iid in ids:
        sync.wait_for_workflow_start(iid, timeout_in_seconds=30)
    store = runtime.store

    async def scenario() -> list[outlast.WorkflowState | None]:
        executor = CountingExecutor(8)
        asyncio.get_running_loop().set_default_executor(executor)
        client = runtime.async_client()
        waiters = [
            asyncio.create_task(client.wait_for_workflow_completion(i, timeout_in_seconds=120))
            for i in ids
        ]
        while sum(len(w) for w in store._watchers.values()) < count:
            await asyncio.sleep(0.01)
        executor.reset()
        # Raised from a thread of our own, so that only the waiters use the executor.
        raiser = threading.Thread(
            target=lambda: [sync.raise_workflow_event(i, "go", data=1) for i in ids]
        )
        raiser.start()
        states = await asyncio.gather(*waiters)
        raiser.join()
        # Waking and re-reading 300 waiters took one thread at a time, not one each.
        assert executor.most <= 1, executor.most
        return states

    states = run(scenario())
    assert [s.output_as() if s else None for s in states] == [i + 1 for i in range(count)]


def test_a_cancelled_waiter_leaves_the_others_waiting(runtime: outlast.WorkflowRuntime) -> None:
    async def scenario() -> None:
        client = runtime.async_client()
        iid = await client.schedule_new_workflow("gate", input=0)
        first = asyncio.create_task(client.wait_for_workflow_completion(iid))
        second = asyncio.create_task(client.wait_for_workflow_completion(iid))
        await client.wait_for_workflow_start(iid, timeout_in_seconds=10)
        first.cancel()
        await client.raise_workflow_event(iid, "go", data=5)
        state = await second
        assert state is not None and state.output_as() == 5
        assert first.cancelled()

    run(scenario())


def test_a_wait_times_out_with_the_status_and_refuses_negative_timeouts(
    runtime: outlast.WorkflowRuntime,
) -> None:
    async def scenario() -> None:
        client = runtime.async_client()
        iid = await client.schedule_new_workflow("gate", input=0)
        await client.wait_for_workflow_start(iid, timeout_in_seconds=10)
        with pytest.raises(outlast.TimeoutError, match="still RUNNING"):
            await client.wait_for_workflow_completion(iid, timeout_in_seconds=0.2)
        with pytest.raises(ValueError, match="must not be negative"):
            await client.wait_for_workflow_completion(iid, timeout_in_seconds=-1)

    run(scenario())


def test_in_process_commits_wake_waiters_without_polling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A memory store signals every change: with its safety poll pushed out of
    # reach, only the commit signal can end these waits.
    monkeypatch.setattr(waits, "_SAFETY_POLL_SECONDS", 3600.0)
    rt = outlast.WorkflowRuntime("memory://", poll_interval=0.05)
    register(rt)
    with rt:

        async def scenario() -> list[Any]:
            client = rt.async_client()
            ids = [await client.schedule_new_workflow("gate", input=i) for i in range(20)]
            waiting = [client.wait_for_workflow_completion(i, timeout_in_seconds=120) for i in ids]
            gathered = asyncio.gather(*waiting)
            for iid in ids:
                await client.raise_workflow_event(iid, "go", data=1)
            return [s.output_as() for s in await gathered]

        assert run(scenario()) == [i + 1 for i in range(20)]


def _gate_across_processes(theirs: Store, ours: Store) -> Any:
    """A runtime on ``theirs`` runs a gate that a client on ``ours`` opens and
    waits for: two store objects share no in-process signal, like two processes."""
    rt = outlast.WorkflowRuntime(theirs, poll_interval=0.05)
    register(rt)
    try:
        with rt:

            async def scenario() -> Any:
                client = outlast.aio.WorkflowClient(ours)
                iid = await client.schedule_new_workflow("gate", input=1)
                waiter = asyncio.create_task(
                    client.wait_for_workflow_completion(iid, timeout_in_seconds=120)
                )
                await client.wait_for_workflow_start(iid, timeout_in_seconds=120)
                await client.raise_workflow_event(iid, "go", data=2)
                state = await waiter
                assert state is not None
                return state.output_as()

            return run(scenario())
    finally:
        ours.close()
        theirs.close()


def test_changes_by_another_process_are_seen_by_polling(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    assert _gate_across_processes(SqliteStore(path), SqliteStore(path)) == 3


def test_on_postgresql_other_processes_commits_wake_waiters_through_listen(
    fresh_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from outlast.store.postgres import PostgresStore

    # With the safety poll out of reach, only LISTEN/NOTIFY can end the waits.
    monkeypatch.setattr(waits, "_SAFETY_POLL_SECONDS", 3600.0)
    stores = PostgresStore(fresh_database), PostgresStore(fresh_database)
    assert _gate_across_processes(*stores) == 3


def test_the_dapr_flavour_takes_dapr_arguments(runtime: outlast.WorkflowRuntime) -> None:
    async def scenario() -> None:
        client = outlast.dapr.aio.DaprWorkflowClient("localhost", "50001", store=runtime.store)
        iid = await client.schedule_new_workflow(workflow="checkout", input="dapr")
        state = await client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
        assert state is not None and state.runtime_status is WorkflowStatus.COMPLETED

    run(scenario())
