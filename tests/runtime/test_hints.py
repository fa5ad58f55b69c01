"""Common mistakes in workflow code, run for real, get a hint that says what to do:
a forgotten ``yield``, an activity called directly, a turn that blocks."""

from __future__ import annotations

import logging
import time
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import pytest

import outlast
from outlast import WorkflowStatus
from tests.conftest import RuntimeFactory
from tests.runtime.test_runtime import _wait_for

HINT = "did you forget `yield`?"


def _run(rt: outlast.WorkflowRuntime, workflow: Any, iid: str) -> outlast.WorkflowState:
    client = rt.client()
    client.schedule_new_workflow(workflow, instance_id=iid)
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
    assert state is not None
    return state


def _failure(state: outlast.WorkflowState) -> str:
    assert state.runtime_status is WorkflowStatus.FAILED
    assert state.failure_details is not None
    return state.failure_details.message


def test_a_task_used_as_its_result_says_yield_was_forgotten(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime()

    @rt.activity
    def price(ctx: outlast.ActivityContext, item: str) -> dict[str, int]:
        return {"cents": 250}

    @rt.workflow
    def returns_task(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, Any]:
        yield ctx.create_timer(timedelta(0))
        return ctx.call_activity(price, input="tea")

    @rt.workflow
    def passes_task(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, Any]:
        p = ctx.call_activity(price, input="tea")
        return (yield ctx.call_activity(price, input=p))

    @rt.workflow
    def indexes_task(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, Any]:
        p = ctx.call_activity(price, input="tea")
        yield ctx.create_timer(timedelta(0))
        return p["cents"]

    @rt.workflow
    def reads_task(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, Any]:
        p = ctx.call_activity(price, input="tea")
        yield ctx.create_timer(timedelta(0))
        return p.cents

    rt.start()
    for wf in (returns_task, passes_task, indexes_task, reads_task):
        message = _failure(_run(rt, wf, wf.__name__))
        assert HINT in message, (wf.__name__, message)
        assert "yield ctx.call_activity" in message


def test_returning_with_a_task_never_yielded_warns(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="outlast.workflow")
    rt = make_runtime()

    @rt.activity
    def notify(ctx: outlast.ActivityContext, _: Any) -> None:
        time.sleep(0.05)

    @rt.workflow
    def careless(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, Any]:
        ctx.call_activity(notify)  # no yield: its result is never waited for
        yield ctx.create_timer(timedelta(0))
        return "done"

    @rt.workflow
    def careful(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, Any]:
        # A race whose loser is still pending is not a mistake.
        winner = yield outlast.when_any(
            [ctx.create_timer(timedelta(0)), ctx.wait_for_external_event("never")]
        )
        yield ctx.call_activity(notify)
        return winner is not None

    rt.start()
    assert _run(rt, careful, "careful").runtime_status is WorkflowStatus.COMPLETED
    assert _run(rt, careless, "careless").runtime_status is WorkflowStatus.COMPLETED
    warned = [r for r in caplog.records if "never yielded" in r.getMessage()]
    assert len(warned) == 1
    assert warned[0].instance_id == "careless"  # type: ignore[attr-defined]
    assert HINT.capitalize() in warned[0].getMessage()


def test_an_activity_called_directly_inside_a_workflow_is_refused_with_a_hint(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime()

    @rt.activity
    def charge(ctx: outlast.ActivityContext, amount: int) -> str:
        return f"charged {amount}"

    @rt.activity
    async def refund(ctx: outlast.ActivityContext, amount: int) -> str:
        return f"refunded {amount}"

    @rt.workflow
    def direct(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, Any]:
        yield ctx.create_timer(timedelta(0))
        return charge(ctx, 5)  # type: ignore[arg-type]

    @rt.workflow
    def proper(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, Any]:
        a = yield ctx.call_activity(charge, input=5)
        b = yield ctx.call_activity(refund, input=5)
        return [a, b]

    rt.start()
    message = _failure(_run(rt, direct, "direct"))
    assert "called directly inside workflow 'direct'" in message
    assert "yield ctx.call_activity(charge, input=...)" in message
    ok = _run(rt, proper, "proper")
    assert ok.output_as() == ["charged 5", "refunded 5"]
    # Outside a workflow (a unit test, say) the function is just the function.
    assert charge(outlast.ActivityContext("x", 1), 7) == "charged 7"
    # And another runtime registers it as the function itself.
    other = make_runtime()
    assert other.registry.add_activity(charge).fn is rt.registry.activities["charge"].fn


def test_a_turn_that_blocks_warns_before_it_stalls(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="outlast.worker")
    rt = make_runtime(deadlock_timeout=1.5)

    @rt.workflow
    def sleepy(ctx: outlast.WorkflowContext, _: Any) -> Generator[Any, Any, Any]:
        if not ctx.is_replaying:
            time.sleep(0.9)  # the mistake: blocks every workflow of the runtime
        yield ctx.create_timer(timedelta(0))
        return "awake"

    rt.start()
    state = _run(rt, sleepy, "sleepy")
    assert state.runtime_status is WorkflowStatus.COMPLETED
    _wait_for(lambda: any("must not block" in r.getMessage() for r in caplog.records))
    (line,) = [r for r in caplog.records if "must not block" in r.getMessage()]
    assert line.instance_id == "sleepy"  # type: ignore[attr-defined]
    assert "test_hints.py" in line.where  # type: ignore[attr-defined]
