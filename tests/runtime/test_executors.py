"""The executor seam: a workflow whose code runs elsewhere (as an SDK worker's does,
answering later on a stream) commits through the same group commit as in-process
code, one turn in flight at a time, stale answers ignored."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Generator
from typing import Any

import outlast
from outlast.core import history as h
from outlast.core.turn import Turn
from outlast.runtime.executors import TurnWork
from outlast.runtime.worker import Worker
from tests.conftest import RuntimeFactory


class ThreadedRemote:
    """Runs the workflow "remote_sum" on its own thread, from the history it is sent:
    call the in-process activity "double" on the input, wait for the event "add",
    complete with the sum. It answers the first dispatch of each instance twice
    with a wrong token first, and abandons one dispatch to see it come back."""

    def __init__(self) -> None:
        self.worker: Worker | None = None
        self.work: queue.Queue[TurnWork | None] = queue.Queue()
        self.seen: list[tuple[str, list[str], list[str]]] = []
        self.abandoned = False
        self.forgotten: list[tuple[str, bool]] = []
        self.completed: set[str] = set()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def runs(self, name: str) -> bool:
        return name == "remote_sum"

    def ready(self) -> bool:
        return True

    def dispatch(self, work: TurnWork) -> None:
        self.work.put(work)

    def forget(self, instance_id: str) -> None:
        # Whether it was still running then (finished instances are forgotten too).
        self.forgotten.append((instance_id, instance_id in self.completed))

    def close(self) -> None:
        self.work.put(None)
        self._thread.join()

    def _await_worker(self) -> None:
        # The test sets `worker` right after start(), which may already dispatch.
        deadline = time.monotonic() + 10
        while self.worker is None and time.monotonic() < deadline:
            time.sleep(0.001)

    def _serve(self) -> None:
        while (work := self.work.get()) is not None:
            self._await_worker()
            assert self.worker is not None
            events = [*work.past, *work.new]
            self.seen.append(
                (
                    work.view.instance_id,
                    [type(e).__name__ for e in work.past],
                    [type(e).__name__ for e in work.new],
                )
            )
            if not self.abandoned and any(isinstance(e, h.TaskCompleted) for e in work.new):
                self.abandoned = True
                self.worker.turn_abandoned(work.view.instance_id, work.token)
                continue
            assert not self.worker.turn_done(work.view.instance_id, work.token + 1000, Turn([]))
            turn = self._decide(events)
            if any(isinstance(a, h.CompleteWorkflow) for a in turn.actions):
                self.completed.add(work.view.instance_id)
            self.worker.turn_done(work.view.instance_id, work.token, turn)

    @staticmethod
    def _decide(events: list[h.Event]) -> Turn:
        started = next(e for e in events if isinstance(e, h.ExecutionStarted))
        doubled = next((e for e in events if isinstance(e, h.TaskCompleted)), None)
        added = next((e for e in events if isinstance(e, h.EventRaised)), None)
        if not any(isinstance(e, h.TaskScheduled) for e in events):
            return Turn([h.ScheduleActivity(1, "double", started.input)], '"doubling"', True)
        if doubled is None or added is None:
            return Turn([])
        total = int(doubled.result or 0) + int(added.input or 0)
        return Turn([h.CompleteWorkflow("COMPLETED", str(total))])


def test_a_workflow_run_by_a_remote_executor_completes_with_local_activities(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime()

    @rt.activity
    def double(ctx: outlast.ActivityContext, x: int) -> int:
        return 2 * x

    @rt.workflow
    def local_sum(ctx: outlast.WorkflowContext, x: int) -> Generator[Any, Any, int]:
        return int((yield ctx.call_activity(double, input=x)))

    remote = ThreadedRemote()
    rt.attach(executor=remote)
    rt.start()
    remote.worker = rt.worker
    try:
        client = rt.client()
        iid = client.schedule_new_workflow("remote_sum", input=20)  # not in the registry
        local = client.schedule_new_workflow(local_sum, input=1)
        client.raise_workflow_event(iid, "add", data=2)
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=20)
        assert state is not None and state.output_as() == 42
        assert client.wait_for_workflow_completion(local).output_as() == 2  # type: ignore[union-attr]
    finally:
        remote.close()
    # Every dispatch led with the turn's marker; the abandoned one came back.
    assert all(new[0] == "OrchestratorStarted" for _, _, new in remote.seen)
    assert remote.abandoned
    history = client.get_workflow_history(iid)
    kinds = [e["kind"] for e in history]
    assert kinds[:3] == ["OrchestratorStarted", "ExecutionStarted", "TaskScheduled"]
    assert kinds.count("TaskCompleted") == 1 and kinds[-1] == "ExecutionCompleted"
    assert state.serialized_custom_status == '"doubling"'


class HoldingRemote(ThreadedRemote):
    """Answers an instance's first turn (schedule "double"), then never answers:
    the turn carrying the activity's result stays in flight."""

    def __init__(self) -> None:
        self.held: list[TurnWork] = []
        super().__init__()

    def _serve(self) -> None:
        while (work := self.work.get()) is not None:
            self._await_worker()
            assert self.worker is not None
            if any(isinstance(e, h.TaskScheduled) for e in work.past):
                self.held.append(work)
                continue
            self.worker.turn_done(work.view.instance_id, work.token, self._decide(work.new))


def test_a_result_held_by_an_unanswered_remote_turn_survives_shutdown(
    make_runtime: RuntimeFactory,
) -> None:
    runs: list[int] = []

    def double(ctx: outlast.ActivityContext, x: int) -> int:
        runs.append(x)
        return 2 * x

    rt = make_runtime()
    rt.activity(double)
    holding = HoldingRemote()
    rt.attach(executor=holding)
    rt.start()
    holding.worker = rt.worker
    client = rt.client()
    iid = client.schedule_new_workflow("remote_sum", input=20)
    deadline = time.monotonic() + 20
    while not any(isinstance(e, h.TaskCompleted) for w in holding.held for e in w.new):
        assert time.monotonic() < deadline, "the result's turn was never dispatched"
        time.sleep(0.01)
    rt.shutdown()  # the turn carrying the result is still in flight
    holding.close()

    again = make_runtime()
    again.activity(double)
    answering = ThreadedRemote()
    answering.abandoned = True  # no abandon this time
    again.attach(executor=answering)
    again.start()
    answering.worker = again.worker
    try:
        client = again.client()
        client.raise_workflow_event(iid, "add", data=2)
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=20)
        assert state is not None and state.output_as() == 42
    finally:
        answering.close()
    assert runs == [20]  # its result was kept: the activity did not run again


def test_a_failed_commit_of_a_remote_answer_loses_no_activity_result() -> None:
    from outlast.store import MemoryStore
    from outlast.store.base import CommitBatch

    class FlakyStore(MemoryStore):
        failures = 1

        def commit(self, batch: CommitBatch) -> set[str]:
            # The answer that carries the activity's result fails to commit once.
            if batch.finished_activities and batch.turns and self.failures:
                self.failures -= 1
                raise outlast.StoreError("disk full (simulated)")
            return super().commit(batch)

    store = FlakyStore()
    rt = outlast.WorkflowRuntime(store, poll_interval=0.02)
    runs: list[int] = []

    @rt.activity
    def double(ctx: outlast.ActivityContext, x: int) -> int:
        runs.append(x)
        return 2 * x

    remote = ThreadedRemote()
    remote.abandoned = True  # answer every dispatch
    rt.attach(executor=remote)
    try:
        with rt:
            remote.worker = rt.worker
            client = outlast.WorkflowClient(store)
            iid = client.schedule_new_workflow("remote_sum", input=20)
            client.raise_workflow_event(iid, "add", data=2)
            state = client.wait_for_workflow_completion(iid, timeout_in_seconds=20)
    finally:
        remote.close()
    assert state is not None and state.output_as() == 42
    assert store.failures == 0 and runs == [20]  # retried from memory, not re-run


def test_an_instance_the_cache_lets_go_is_forgotten_by_its_remote_executor(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime(cache_size=1)

    @rt.activity
    def double(ctx: outlast.ActivityContext, x: int) -> int:
        return 2 * x

    remote = ThreadedRemote()
    remote.abandoned = True  # answer every dispatch
    rt.attach(executor=remote)
    rt.start()
    remote.worker = rt.worker
    try:
        client = rt.client()
        first = client.schedule_new_workflow("remote_sum", input=1)
        second = client.schedule_new_workflow("remote_sum", input=2)
        for iid in (first, second):
            client.raise_workflow_event(iid, "add", data=10)
        outputs = [
            client.wait_for_workflow_completion(i, timeout_in_seconds=20) for i in (first, second)
        ]
    finally:
        remote.close()
    assert [o.output_as() for o in outputs if o is not None] == [12, 14]
    # One cached instance at a time: the other was let go (and its history with it)
    # while no turn of it was in flight, and read back when its next turn came.
    assert any(not done for _, done in remote.forgotten), remote.forgotten
