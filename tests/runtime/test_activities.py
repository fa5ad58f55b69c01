"""Activities end to end: retries that stop on errors that cannot be helped,
attempt numbers, timeouts and heartbeats."""

from __future__ import annotations

import time
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import outlast
from outlast import WorkflowStatus
from tests.conftest import RuntimeFactory

FAST = outlast.RetryPolicy(
    timedelta(milliseconds=10), 3, non_retryable_error_types=[ValueError, "CardDeclined"]
)


class CardDeclined(Exception):
    pass


def test_non_retryable_failures_are_tried_once(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    rt = make_runtime()
    calls: dict[str, int] = {}
    errors: dict[str, BaseException] = {
        "value": ValueError("bad input"),
        "declined": CardDeclined("declined"),
        "marked": outlast.NonRetryableError("gone for good"),
        "blip": ConnectionError("blip"),
    }

    @rt.activity
    def charge(ctx: outlast.ActivityContext, kind: str) -> None:
        calls[kind] = calls.get(kind, 0) + 1
        raise errors[kind]

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext, kind: str) -> Generator[Any, Any, str]:
        try:
            yield ctx.call_activity(charge, input=kind, retry_policy=FAST)
        except outlast.TaskFailedError as e:
            return e.details.error_type
        return "no error"

    rt.start()
    client = outlast.WorkflowClient(store_url)
    ids = {kind: client.schedule_new_workflow(wf, input=kind) for kind in errors}
    for kind, iid in ids.items():
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
        assert state is not None and state.runtime_status is WorkflowStatus.COMPLETED
        assert state.output_as() == type(errors[kind]).__name__
    assert calls == {"value": 1, "declined": 1, "marked": 1, "blip": 3}


def test_attempt_counts_across_retries_and_reaches_the_activity(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    rt = make_runtime()
    seen: list[int] = []

    @rt.activity
    def flaky(ctx: outlast.ActivityContext) -> int:
        seen.append(ctx.attempt)
        if ctx.attempt < 3:
            raise ConnectionError("blip")
        return ctx.attempt

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, int]:
        return (yield ctx.call_activity(flaky, retry_policy=FAST))

    rt.start()
    client = outlast.WorkflowClient(store_url)
    iid = client.schedule_new_workflow(wf)
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
    assert state is not None and state.runtime_status is WorkflowStatus.COMPLETED
    assert state.output_as() == 3
    assert seen == [1, 2, 3]


def test_a_hung_attempt_times_out_and_the_retries_run_out(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    rt = make_runtime()
    attempts: list[int] = []
    cancelled: list[bool] = []

    @rt.activity
    def hang(ctx: outlast.ActivityContext) -> str:
        attempts.append(ctx.attempt)
        for _ in range(300):  # a sync activity can only stop itself
            if ctx.is_cancelled:
                cancelled.append(True)
                break
            time.sleep(0.01)
        return "late"

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, str]:
        try:
            yield ctx.call_activity(
                hang,
                retry_policy=outlast.RetryPolicy(timedelta(milliseconds=10), 2),
                start_to_close_timeout=timedelta(milliseconds=500),
            )
        except outlast.ActivityTimeoutError as e:
            return f"timed out: {e.details.error_type}"
        return "no timeout"

    rt.start()
    client = outlast.WorkflowClient(store_url)
    iid = client.schedule_new_workflow(wf)
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=15)
    assert state is not None and state.runtime_status is WorkflowStatus.COMPLETED
    assert state.output_as() == "timed out: ActivityTimeoutError"
    assert attempts == [1, 2]
    # Each attempt sees is_cancelled at its deadline (the last one about when the
    # workflow's timer fires, so it may trail the completion a little).
    for _ in range(500):
        if len(cancelled) == 2:
            break
        time.sleep(0.01)
    assert cancelled == [True, True]


def test_a_missed_heartbeat_fails_the_attempt_and_passes_its_details_on(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    rt = make_runtime()
    seen: list[tuple[int, Any]] = []

    @rt.activity
    def worker(ctx: outlast.ActivityContext) -> str:
        seen.append((ctx.attempt, ctx.heartbeat_details))
        if ctx.attempt == 1:
            for step in range(3):
                ctx.heartbeat({"done": step})
                time.sleep(0.05)
            while not ctx.is_cancelled:  # stops heartbeating: stuck
                time.sleep(0.01)
            return "too late"
        return "resumed"

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, str]:
        return (
            yield ctx.call_activity(
                worker,
                retry_policy=outlast.RetryPolicy(timedelta(milliseconds=10), 2),
                heartbeat_timeout=timedelta(milliseconds=300),
            )
        )

    rt.start()
    client = outlast.WorkflowClient(store_url)
    iid = client.schedule_new_workflow(wf)
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=15)
    assert state is not None and state.runtime_status is WorkflowStatus.COMPLETED
    assert state.output_as() == "resumed"
    assert seen == [(1, None), (2, {"done": 2})]


def test_a_missed_heartbeat_without_retries_raises_activity_timeout(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    rt = make_runtime()

    @rt.activity
    def silent(ctx: outlast.ActivityContext) -> str:
        while not ctx.is_cancelled:
            time.sleep(0.01)
        return "too late"

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, str]:
        try:
            yield ctx.call_activity(silent, heartbeat_timeout=timedelta(milliseconds=200))
        except outlast.ActivityTimeoutError:
            return "timed out"
        return "no timeout"

    rt.start()
    client = outlast.WorkflowClient(store_url)
    iid = client.schedule_new_workflow(wf)
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=15)
    assert state is not None and state.output_as() == "timed out"


def test_schedule_to_close_bounds_the_call_with_its_retries(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    rt = make_runtime()
    attempts: list[int] = []

    @rt.activity
    def failing(ctx: outlast.ActivityContext) -> None:
        attempts.append(ctx.attempt)
        raise ConnectionError("blip")

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, str]:
        try:
            yield ctx.call_activity(
                failing,
                retry_policy=outlast.RetryPolicy(timedelta(milliseconds=200), 1000),
                schedule_to_close_timeout=timedelta(milliseconds=700),
            )
        except outlast.ActivityTimeoutError as e:
            return e.details.message
        return "no timeout"

    rt.start()
    client = outlast.WorkflowClient(store_url)
    iid = client.schedule_new_workflow(wf)
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=15)
    assert state is not None and "schedule_to_close_timeout" in state.output_as()
    assert 1 < len(attempts) < 1000  # retried, then stopped by the call's bound
    assert attempts == list(range(1, len(attempts) + 1))


def test_an_attempt_that_raises_passes_its_heartbeat_details_on(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    # No timeouts on the call: the details travel all the same.
    rt = make_runtime()
    seen: list[tuple[int, Any]] = []

    @rt.activity
    def resumable(ctx: outlast.ActivityContext) -> str:
        seen.append((ctx.attempt, ctx.heartbeat_details))
        if ctx.attempt == 1:
            ctx.heartbeat({"done": 7})
            raise ConnectionError("blip")
        return "resumed"

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, str]:
        policy = outlast.RetryPolicy(timedelta(milliseconds=10), 2)
        return (yield ctx.call_activity(resumable, retry_policy=policy))

    rt.start()
    client = outlast.WorkflowClient(store_url)
    iid = client.schedule_new_workflow(wf)
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=15)
    assert state is not None and state.output_as() == "resumed"
    assert seen == [(1, None), (2, {"done": 7})]


def test_an_async_activity_cancelled_at_its_timeout_frees_its_row_and_its_cap(
    make_runtime: RuntimeFactory, store_url: str
) -> None:
    import asyncio

    rt = make_runtime(activity_limits={"nap": 1})

    @rt.activity
    async def nap(ctx: outlast.ActivityContext, seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "woke"

    @rt.workflow
    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, list[str]]:
        seen = []
        for seconds in (30.0, 30.0, 0.0):  # under a cap of one: each waits for the last
            try:
                seen.append(
                    (
                        yield ctx.call_activity(
                            nap, input=seconds, start_to_close_timeout=timedelta(seconds=2)
                        )
                    )
                )
            except outlast.ActivityTimeoutError:
                seen.append("timed out")
        return seen

    rt.start()
    client = outlast.WorkflowClient(store_url)
    iid = client.schedule_new_workflow(wf)
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
    assert state is not None and state.output_as() == ["timed out", "timed out", "woke"]
    worker = rt.worker
    assert worker is not None
    for _ in range(200):  # the last attempt's end is committed just after the turn
        if not rt.store.owned_activities(worker.worker_id):
            break
        time.sleep(0.01)
    assert rt.store.owned_activities(worker.worker_id) == []
