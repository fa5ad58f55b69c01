"""One bad instance never stops the others: code that raises anything, hangs, or
recurses without end, and rows that will not commit, cost only their instance."""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

import pytest

import outlast
from outlast import WorkflowStatus
from outlast.errors import StoreError
from tests.conftest import RuntimeFactory
from tests.runtime.test_runtime import _wait_for


def _canary(rt: outlast.WorkflowRuntime) -> None:
    @rt.activity
    def echo(ctx: outlast.ActivityContext, x: int) -> int:
        return x

    @rt.workflow
    def canary(ctx: outlast.WorkflowContext, x: int) -> Generator[Any, Any, int]:
        return int((yield ctx.call_activity(echo, input=x)))


def _assert_canary_completes(client: outlast.WorkflowClient) -> None:
    iid = client.schedule_new_workflow("canary", input=7)
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=20)
    assert state is not None and state.output_as() == 7


@pytest.mark.parametrize("error", [SystemExit, KeyboardInterrupt, GeneratorExit])
def test_workflow_code_raising_a_base_exception_fails_only_its_instance(
    make_runtime: RuntimeFactory, error: type[BaseException]
) -> None:
    rt = make_runtime()
    _canary(rt)

    @rt.workflow
    def explodes(ctx: outlast.WorkflowContext) -> Generator[Any, Any, None]:
        yield ctx.call_activity("echo", input=1)
        raise error("from workflow code")

    rt.start()
    client = rt.client()
    bad = client.schedule_new_workflow(explodes)
    state = client.wait_for_workflow_completion(bad, timeout_in_seconds=20)
    assert state is not None and state.runtime_status is WorkflowStatus.FAILED
    assert state.failure_details is not None
    assert state.failure_details.error_type == error.__name__
    assert rt.worker is not None and rt.worker.is_alive
    _assert_canary_completes(client)


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


def test_activities_raising_anything_fail_alone_and_threads_survive(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime(max_concurrent_activities=2)
    _canary(rt)

    @rt.activity
    def exits(ctx: outlast.ActivityContext, kind: str) -> None:
        if kind == "exit":
            raise SystemExit(3)
        if kind == "interrupt":
            raise KeyboardInterrupt
        raise _Unprintable

    @rt.workflow
    def calls(ctx: outlast.WorkflowContext, kind: str) -> Generator[Any, Any, str]:
        try:
            yield ctx.call_activity(exits, input=kind)
        except outlast.TaskFailedError as e:
            return e.details.error_type
        return "not failed"

    rt.start()
    client = rt.client()
    kinds = ["exit", "interrupt", "unprintable"] * 3  # more than the pool's threads
    ids = [client.schedule_new_workflow(calls, input=k) for k in kinds]
    outputs = [
        client.wait_for_workflow_completion(i, timeout_in_seconds=20).output_as() for i in ids
    ]  # type: ignore[union-attr]
    assert outputs == ["SystemExit", "KeyboardInterrupt", "_Unprintable"] * 3
    _assert_canary_completes(client)


def test_a_turn_that_blocks_is_set_aside_with_the_line_it_hangs_on(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime(deadlock_timeout=0.3)
    _canary(rt)

    @rt.workflow
    def blocks(ctx: outlast.WorkflowContext) -> Generator[Any, Any, None]:
        yield ctx.call_activity("echo", input=1)
        time.sleep(3)  # what workflow code must never do
        yield ctx.call_activity("echo", input=2)

    rt.start()
    client = rt.client()
    stuck = client.schedule_new_workflow(blocks)
    _wait_for(
        lambda: client.get_workflow_state(stuck).runtime_status is WorkflowStatus.STALLED,  # type: ignore[union-attr]
        timeout=20,
    )
    state = client.get_workflow_state(stuck)
    assert state is not None and state.failure_details is not None
    message = state.failure_details.message
    assert "blocked its turn" in message and "test_isolation.py" in message
    assert "in blocks" in message
    _assert_canary_completes(client)  # while the stuck thread still sleeps
    assert rt.worker is not None and rt.worker.is_alive


def test_runaway_recursion_of_children_stops_at_the_depth_limit(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime(max_child_depth=3)

    @rt.workflow
    def recurse(ctx: outlast.WorkflowContext, depth: int) -> Generator[Any, Any, Any]:
        try:
            return (yield ctx.call_child_workflow(recurse, input=depth + 1))
        except outlast.TaskFailedError as e:
            return [depth, e.details.error_type]

    rt.start()
    client = rt.client()
    iid = client.schedule_new_workflow(recurse, input=0)
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=20)
    assert state is not None and state.output_as() == [3, "ChildDepthExceededError"]
    assert len(client.list_workflows(page_size=100)) == 4  # the root and three children


def test_a_child_id_that_breaks_the_rules_fails_the_call_not_the_store(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime()
    _canary(rt)

    @rt.workflow
    def nul(ctx: outlast.WorkflowContext) -> Generator[Any, Any, str]:
        try:
            yield ctx.call_child_workflow("canary", input=1, instance_id="bad\x00id")
        except ValueError as e:
            return str(e)
        return "started"

    rt.start()
    client = rt.client()
    state = client.wait_for_workflow_completion(client.schedule_new_workflow(nul))
    assert state is not None and "invalid instance ID" in state.output_as()
    _assert_canary_completes(client)


def test_a_turn_that_will_not_commit_is_set_aside_and_the_rest_commit(
    make_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = make_runtime()
    _canary(rt)

    @rt.workflow
    def poison(ctx: outlast.WorkflowContext) -> Generator[Any, Any, int]:
        return int((yield ctx.call_activity("echo", input=1)))

    store = rt.store
    real = store.commit

    def refuse_poison(batch: Any) -> set[str]:
        # What a database does with a row it cannot take: the whole batch fails.
        if any(t.instance_id.startswith("poison") for t in batch.turns):
            raise StoreError("invalid byte sequence in the poison row")
        return real(batch)

    monkeypatch.setattr(store, "commit", refuse_poison)
    rt.start()
    client = rt.client()
    client.schedule_new_workflow(poison, instance_id="poison-1")
    ids = [client.schedule_new_workflow("canary", input=n) for n in range(20)]
    outputs = [
        client.wait_for_workflow_completion(i, timeout_in_seconds=20).output_as() for i in ids
    ]  # type: ignore[union-attr]
    assert outputs == list(range(20))
    worker = rt.worker
    assert worker is not None
    _wait_for(lambda: "poison-1" in worker._quarantined, timeout=20)


def test_a_result_delivered_twice_is_recorded_once(
    make_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit that went through but reported failure puts its results back in
    line; applied again on a fresh replay they would be recorded twice."""
    rt = make_runtime()

    @rt.activity
    def step(ctx: outlast.ActivityContext, x: int) -> int:
        return x + 1

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext, x: int) -> Generator[Any, Any, int]:
        for _ in range(3):
            x = yield ctx.call_activity(step, input=x)
        return x

    store = rt.store
    real = store.commit
    lost: list[int] = []

    def commit_then_lose_the_answer(batch: Any) -> set[str]:
        rejected = real(batch)
        if len(lost) < 2 and batch.finished_activities:
            lost.append(1)
            raise StoreError("connection lost while committing")
        return rejected

    monkeypatch.setattr(store, "commit", commit_then_lose_the_answer)
    rt.start()
    client = rt.client()
    iid = client.schedule_new_workflow(wf, input=0)
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=20)
    assert lost and state is not None and state.output_as() == 3
    completions = [
        e["task_id"] for e in client.get_workflow_history(iid) if e["kind"] == "TaskCompleted"
    ]
    assert sorted(completions) == sorted(set(completions)) == [0, 1, 2]
