"""WorkflowTestEnvironment: isolated stores, time that skips, fakes for activities."""

from __future__ import annotations

import os
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import outlast
from outlast.testing import FakeClock, WorkflowTestEnvironment

START = datetime(2030, 1, 1, tzinfo=UTC)


@dataclass
class Order:
    item: str
    cost: float


def notify(ctx: outlast.ActivityContext, order: Order) -> str:
    return f"asked about {order.item}"


def approval(ctx: outlast.WorkflowContext, order: Order) -> Generator[Any, Any, str]:
    yield ctx.call_activity(notify, input=order)
    answer = ctx.wait_for_external_event("approval")
    timeout = ctx.create_timer(timedelta(days=2))
    winner = yield outlast.when_any([answer, timeout])
    if winner == timeout:
        return "cancelled"
    return f"approved by {answer.get_result()}"


def app_runtime() -> outlast.WorkflowRuntime:
    runtime = outlast.WorkflowRuntime("memory://")
    runtime.register_workflow(approval)
    runtime.register_activity(notify)
    return runtime


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_a_two_day_timeout_completes_by_skipping_time(store: str) -> None:
    with WorkflowTestEnvironment(app_runtime(), store=store) as env:
        iid = env.client.schedule_new_workflow(approval, input=Order("laptop", 2500))
        state = env.client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
        assert state is not None and state.output_as() == "cancelled"
        # The clock jumped to the timer; it did not run for two days.
        assert env.now() == START + timedelta(days=2)


def test_time_stands_still_outside_a_wait_so_an_event_wins() -> None:
    with WorkflowTestEnvironment(app_runtime()) as env:
        iid = env.client.schedule_new_workflow(approval, input=Order("laptop", 2500))
        env.client.wait_for_workflow_start(iid)
        env.settle()
        env.client.raise_workflow_event(iid, "approval", data="Jane")
        state = env.client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
        assert state is not None and state.output_as() == "approved by Jane"
        assert env.now() == START


def test_the_runtime_passed_in_is_left_as_it_was() -> None:
    runtime = app_runtime()
    calls: list[str] = []

    def fake_notify(ctx: outlast.ActivityContext, order: Order) -> str:
        calls.append(order.item)
        return "faked"

    with WorkflowTestEnvironment(runtime, activities={notify: fake_notify}) as env:
        iid = env.client.schedule_new_workflow(approval, input=Order("pen", 1))
        env.client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
        assert calls == ["pen"]
        assert env.store is not runtime.store
    assert not runtime.is_running
    assert runtime.registry.activities["notify"].fn is notify
    assert runtime.store.get_instance(iid) is None


def test_a_fake_without_hints_gets_the_input_decoded_by_the_original_hints() -> None:
    seen: list[object] = []
    with WorkflowTestEnvironment(app_runtime()) as env:
        env.replace_activity("notify", lambda ctx, order: seen.append(order))
        iid = env.client.schedule_new_workflow(approval, input=Order("pen", 1))
        env.client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
    assert seen == [Order("pen", 1)]


def test_replacing_an_unknown_activity_is_refused() -> None:
    with (
        WorkflowTestEnvironment(app_runtime()) as env,
        pytest.raises(outlast.UnknownActivityError),
    ):
        env.replace_activity("nope", lambda ctx: None)


def test_retries_waiting_on_durable_timers_are_skipped_too() -> None:
    attempts: list[int] = []

    def flaky(ctx: outlast.ActivityContext) -> str:
        attempts.append(ctx.attempt)
        if len(attempts) < 3:
            raise RuntimeError("not yet")
        return "done"

    def retrying(ctx: outlast.WorkflowContext) -> Generator[Any, Any, str]:
        policy = outlast.RetryPolicy(
            first_retry_interval=timedelta(hours=1), max_number_of_attempts=5
        )
        return (yield ctx.call_activity(flaky, retry_policy=policy))  # type: ignore[no-any-return]

    with WorkflowTestEnvironment() as env:
        env.runtime.register_workflow(retrying)
        env.runtime.register_activity(flaky)
        iid = env.client.schedule_new_workflow(retrying)
        state = env.client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
        assert state is not None and state.output_as() == "done"
        assert len(attempts) == 3
        assert env.now() == START + timedelta(hours=2)


def test_a_child_workflow_s_timer_is_skipped() -> None:
    def child(ctx: outlast.WorkflowContext) -> Generator[Any, Any, str]:
        yield ctx.create_timer(timedelta(days=30))
        return "a month later"

    def parent(ctx: outlast.WorkflowContext) -> Generator[Any, Any, str]:
        return (yield ctx.call_child_workflow(child))  # type: ignore[no-any-return]

    with WorkflowTestEnvironment() as env:
        env.runtime.register_workflow(child)
        env.runtime.register_workflow(parent)
        iid = env.client.schedule_new_workflow(parent)
        state = env.client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
        assert state is not None and state.output_as() == "a month later"


def sleeper(ctx: outlast.WorkflowContext) -> Generator[Any, Any, str]:
    yield ctx.create_timer(timedelta(days=1))
    return "woke"


def test_without_time_skipping_a_wait_times_out_and_advance_moves_time() -> None:
    with WorkflowTestEnvironment(time_skipping=False) as env:
        env.runtime.register_workflow(sleeper)
        iid = env.client.schedule_new_workflow(sleeper)
        with pytest.raises(outlast.TimeoutError):
            env.client.wait_for_workflow_completion(iid, timeout_in_seconds=0.2)
        env.advance(timedelta(days=1))
        state = env.client.get_workflow_state(iid)
        assert state is not None and state.output_as() == "woke"


def test_advance_right_after_the_start_is_not_lost() -> None:
    """The timer does not exist yet when the test advances: advance() first lets
    the engine run the first step, so the timer is there to fire."""
    with WorkflowTestEnvironment(time_skipping=False) as env:
        env.runtime.register_workflow(sleeper)
        iid = env.client.schedule_new_workflow(sleeper)
        env.advance(timedelta(days=1))
        state = env.client.get_workflow_state(iid)
        assert state is not None and state.output_as() == "woke"


def test_a_timer_created_in_the_past_of_an_advanced_clock_fires() -> None:
    """FakeClock.advance before the workflow made its timer: a timer for a time
    already past fires at once."""
    due = START + timedelta(hours=1)

    def at_one(ctx: outlast.WorkflowContext) -> Generator[Any, Any, str]:
        yield ctx.create_timer(due)
        return ctx.current_utc_datetime.isoformat()

    clock = FakeClock(START)
    runtime = outlast.WorkflowRuntime("memory://", clock=clock)
    runtime.register_workflow(at_one)
    client = runtime.client()
    iid = client.schedule_new_workflow(at_one)
    clock.advance(timedelta(hours=5))  # before the runtime runs: no timer yet
    with runtime:
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
    assert state is not None
    assert state.output_as() == (START + timedelta(hours=5)).isoformat()


def test_a_temporary_sqlite_file_is_deleted_on_close() -> None:
    env = WorkflowTestEnvironment(store="sqlite")
    with env:
        env.runtime.register_workflow(sleeper)
        env.client.schedule_new_workflow(sleeper)
        directory = env._tmpdir
        assert directory is not None and os.path.exists(f"{directory}/outlast.db")
    assert not os.path.exists(directory)


def test_two_environments_share_nothing() -> None:
    with WorkflowTestEnvironment() as one, WorkflowTestEnvironment() as two:
        one.runtime.register_workflow(sleeper)
        one.client.schedule_new_workflow(sleeper, instance_id="same")
        assert two.client.get_workflow_state("same") is None


def test_a_store_url_is_refused_with_what_to_pass() -> None:
    with pytest.raises(ValueError, match="'memory', 'sqlite'"):
        WorkflowTestEnvironment(store="sqlite:///shared.db")
