"""The pure replay core, driven by hand-built histories: no store, no threads."""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import pytest

import outlast
from outlast.core import history as h
from outlast.core.executor import WorkflowExecutor
from outlast.core.registry import Registry
from outlast.core.status import WorkflowStatus
from outlast.errors import FailureDetails, NonDeterminismError

T0 = 1_000.0


def started(name: str, input: str | None = None) -> h.ExecutionStarted:
    return h.ExecutionStarted(T0, name, input)


def scheduled(task_id: int, name: str, input: str | None = None) -> h.TaskScheduled:
    return h.TaskScheduled(T0, task_id, name, input)


def completed(task_id: int, result: str | None) -> h.TaskCompleted:
    return h.TaskCompleted(T0 + 1, task_id, result)


def make(registry: Registry) -> WorkflowExecutor:
    return WorkflowExecutor("i1", "e1", registry)


def chain_registry() -> Registry:
    reg = Registry()

    def inc(ctx: outlast.ActivityContext, x: int) -> int:
        return x + 1

    def chain(ctx: outlast.WorkflowContext, x: int) -> Generator[Any, Any, int]:
        a = yield ctx.call_activity(inc, input=x)
        b = yield ctx.call_activity(inc, input=a)
        return int(b)

    reg.add_activity(inc)
    reg.add_workflow(chain)
    return reg


def test_first_turn_schedules_first_activity() -> None:
    ex = make(chain_registry())
    turn = ex.run_turn([started("chain", "1")], T0)
    assert turn.actions == [h.ScheduleActivity(0, "inc", "1")]
    assert [type(e) for e in turn.history] == [h.ExecutionStarted, h.TaskScheduled]
    assert turn.completion is None and turn.status is WorkflowStatus.RUNNING


def test_result_resumes_and_completes() -> None:
    ex = make(chain_registry())
    ex.run_turn([started("chain", "1")], T0)
    turn = ex.run_turn([completed(0, "2")], T0 + 1)
    assert turn.actions == [h.ScheduleActivity(1, "inc", "2")]
    turn = ex.run_turn([completed(1, "3")], T0 + 2)
    assert turn.completion is not None
    assert turn.completion.status is WorkflowStatus.COMPLETED
    assert turn.completion.result == "3"
    assert isinstance(turn.history[-1], h.ExecutionCompleted)


def test_replay_rebuilds_state_without_new_actions() -> None:
    ex = make(chain_registry())
    ex.replay(
        [
            started("chain", "1"),
            scheduled(0, "inc", "1"),
            completed(0, "2"),
            scheduled(1, "inc", "2"),
        ]
    )
    turn = ex.run_turn([completed(1, "3")], T0 + 5)
    assert turn.actions == []
    assert turn.completion is not None and turn.completion.result == "3"


def test_is_replaying_is_true_only_for_stored_history() -> None:
    seen: list[bool] = []
    reg = Registry()

    def act(ctx: outlast.ActivityContext) -> None: ...

    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, None]:
        seen.append(ctx.is_replaying)
        yield ctx.call_activity(act)
        seen.append(ctx.is_replaying)

    reg.add_activity(act)
    reg.add_workflow(wf)
    ex = make(reg)
    ex.replay([started("wf"), scheduled(0, "act")])
    ex.run_turn([completed(0, None)], T0 + 1)
    assert seen == [True, False]


def test_changed_activity_name_is_nondeterminism_naming_both() -> None:
    reg = chain_registry()
    with pytest.raises(NonDeterminismError, match=r"step 0.*'other'.*'inc'"):
        make(reg).replay([started("chain", "1"), scheduled(0, "other", "1")])


def test_history_with_extra_step_is_nondeterminism() -> None:
    reg = Registry()

    def wf(ctx: outlast.WorkflowContext) -> str:
        return "done"

    reg.add_workflow(wf)
    with pytest.raises(NonDeterminismError, match="step 0"):
        make(reg).replay([started("wf"), scheduled(0, "inc")])


def test_failed_activity_raises_task_failed_into_workflow() -> None:
    reg = Registry()
    caught: list[outlast.TaskFailedError] = []

    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, str]:
        try:
            yield ctx.call_activity("boom")
        except outlast.TaskFailedError as e:
            caught.append(e)
            return "handled"
        return "not reached"

    reg.add_workflow(wf)
    ex = make(reg)
    ex.run_turn([started("wf")], T0)
    failure = FailureDetails("ValueError", "bad", "trace")
    turn = ex.run_turn([h.TaskFailed(T0, 0, failure)], T0)
    assert caught[0].details == failure
    assert turn.completion is not None and turn.completion.result == '"handled"'


def test_uncaught_exception_fails_workflow_with_details() -> None:
    reg = Registry()

    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, None]:
        yield ctx.create_timer(timedelta(seconds=1))
        raise KeyError("missing")

    reg.add_workflow(wf)
    ex = make(reg)
    ex.run_turn([started("wf")], T0)
    turn = ex.run_turn([h.TimerFired(T0, 0, T0 + 1)], T0 + 1)
    assert turn.completion is not None
    assert turn.completion.status is WorkflowStatus.FAILED
    assert turn.completion.failure is not None
    assert turn.completion.failure.error_type == "KeyError"


def test_timer_time_comes_from_history() -> None:
    reg = Registry()

    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, None]:
        yield ctx.create_timer(ctx.current_utc_datetime + timedelta(minutes=5))

    reg.add_workflow(wf)
    turn = make(reg).run_turn([started("wf")], T0)
    assert turn.actions == [h.StartTimer(0, T0 + 300)]


def test_events_raised_early_are_buffered_in_order_case_insensitively() -> None:
    reg = Registry()

    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, list[Any]]:
        yield ctx.create_timer(timedelta(seconds=1))
        a = yield ctx.wait_for_external_event("Approval")
        b = yield ctx.wait_for_external_event("approval")
        return [a, b]

    reg.add_workflow(wf)
    ex = make(reg)
    ex.run_turn([started("wf")], T0)
    ex.run_turn([h.EventRaised(T0, "APPROVAL", "1"), h.EventRaised(T0, "approval", "2")], T0)
    turn = ex.run_turn([h.TimerFired(T0, 0, T0 + 1)], T0 + 1)
    assert turn.completion is not None and turn.completion.result == "[1,2]"


def test_when_any_returns_the_winning_task() -> None:
    reg = Registry()

    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, str]:
        ev = ctx.wait_for_external_event("go")
        timer = ctx.create_timer(timedelta(hours=24))
        winner = yield outlast.when_any([ev, timer])
        return "timeout" if winner == timer else "event"

    reg.add_workflow(wf)
    ex = make(reg)
    ex.run_turn([started("wf")], T0)
    turn = ex.run_turn([h.TimerFired(T0, 0, T0)], T0)
    assert turn.completion is not None and turn.completion.result == '"timeout"'


def test_wait_with_timeout_raises_catchable_timeout() -> None:
    reg = Registry()

    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, str]:
        try:
            yield ctx.wait_for_external_event("go", timeout=timedelta(seconds=10))
        except outlast.WorkflowTimeoutError:
            return "timed out"
        return "arrived"

    reg.add_workflow(wf)
    ex = make(reg)
    first = ex.run_turn([started("wf")], T0)
    assert first.actions == [h.StartTimer(0, T0 + 10)]
    turn = ex.run_turn([h.TimerFired(T0 + 10, 0, T0 + 10)], T0 + 10)
    assert turn.completion is not None and turn.completion.result == '"timed out"'


def test_when_all_of_nothing_completes_at_once() -> None:
    reg = Registry()

    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, list[Any]]:
        return (yield outlast.when_all([]))

    reg.add_workflow(wf)
    turn = make(reg).run_turn([started("wf")], T0)
    assert turn.completion is not None and turn.completion.result == "[]"


def test_retry_schedules_timer_then_new_attempt() -> None:
    reg = Registry()
    policy = outlast.RetryPolicy(timedelta(seconds=2), max_number_of_attempts=2)

    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, Any]:
        return (yield ctx.call_activity("flaky", retry_policy=policy))

    reg.add_workflow(wf)
    ex = make(reg)
    ex.run_turn([started("wf")], T0)
    failure = FailureDetails("IOError", "down")
    turn = ex.run_turn([h.TaskFailed(T0, 0, failure)], T0)
    assert turn.actions == [h.StartTimer(1, T0 + 2)]
    turn = ex.run_turn([h.TimerFired(T0 + 2, 1, T0 + 2)], T0 + 2)
    assert turn.actions == [h.ScheduleActivity(2, "flaky", None)]
    turn = ex.run_turn([h.TaskFailed(T0 + 2, 2, failure)], T0 + 2)
    assert turn.completion is not None and turn.completion.status is WorkflowStatus.FAILED


def test_continue_as_new_carries_unconsumed_events_when_asked() -> None:
    reg = Registry()

    def wf(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, None]:
        yield ctx.create_timer(timedelta(seconds=1))
        ctx.continue_as_new(n + 1, save_events=True)

    reg.add_workflow(wf)
    ex = make(reg)
    ex.run_turn([started("wf", "1")], T0)
    turn = ex.run_turn([h.EventRaised(T0, "x", '"v"'), h.TimerFired(T0, 0, T0)], T0)
    assert turn.completion is not None
    assert turn.completion.status is WorkflowStatus.CONTINUED_AS_NEW
    assert turn.completion.new_input == "2"
    assert [e.name for e in turn.completion.carryover] == ["x"]


def test_suspended_workflow_holds_events_until_resumed() -> None:
    reg = chain_registry()
    ex = make(reg)
    ex.run_turn([started("chain", "1")], T0)
    turn = ex.run_turn([h.ExecutionSuspended(T0), completed(0, "2")], T0)
    assert turn.status is WorkflowStatus.SUSPENDED and turn.actions == []
    turn = ex.run_turn([h.ExecutionResumed(T0)], T0)
    assert turn.actions == [h.ScheduleActivity(1, "inc", "2")]


def test_terminate_ends_with_output() -> None:
    ex = make(chain_registry())
    ex.run_turn([started("chain", "1")], T0)
    turn = ex.run_turn([h.ExecutionTerminated(T0, '"stop"')], T0)
    assert turn.completion is not None
    assert turn.completion.status is WorkflowStatus.TERMINATED
    assert turn.completion.result == '"stop"'


def test_new_uuid_is_deterministic() -> None:
    reg = Registry()
    ids: list[str] = []

    def wf(ctx: outlast.WorkflowContext) -> str:
        ids.append(ctx.new_uuid())
        ids.append(ctx.new_uuid())
        return "ok"

    reg.add_workflow(wf)
    make(reg).run_turn([started("wf")], T0)
    make(reg).replay([started("wf")])
    assert ids[0] == ids[2] and ids[1] == ids[3] and ids[0] != ids[1]


def test_yielding_a_non_task_fails_clearly() -> None:
    reg = Registry()

    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, None]:
        yield 42

    reg.add_workflow(wf)
    turn = make(reg).run_turn([started("wf")], T0)
    assert turn.completion is not None and turn.completion.failure is not None
    assert "only yield tasks" in turn.completion.failure.message


def test_unserializable_result_fails_the_workflow() -> None:
    reg = Registry()

    def wf(ctx: outlast.WorkflowContext) -> object:
        return object()

    reg.add_workflow(wf)
    turn = make(reg).run_turn([started("wf")], T0)
    assert turn.completion is not None and turn.completion.failure is not None
    assert turn.completion.failure.error_type == "SerializationError"


def test_history_codec_round_trips_every_event_kind() -> None:
    parent = h.ParentInfo("p", "e", 3)
    failure = FailureDetails("E", "m", "t")
    events: list[h.Event] = [
        h.ExecutionStarted(1.5, "wf", '{"a":1}', parent, "v2"),
        h.TaskScheduled(2.0, 0, "act", None),
        h.TaskCompleted(2.0, 0, "1"),
        h.TaskFailed(2.0, 1, failure),
        h.TimerCreated(2.0, 2, 9.0),
        h.TimerFired(9.0, 2, 9.0),
        h.EventRaised(3.0, "go", '"x"'),
        h.SubOrchestrationCreated(3.0, 4, "child", "p-4", None),
        h.SubOrchestrationCompleted(3.0, 4, "2"),
        h.SubOrchestrationFailed(3.0, 5, failure),
        h.ExecutionCompleted(4.0, "FAILED", None, failure),
        h.ExecutionTerminated(4.0, '"o"', False),
        h.ExecutionSuspended(4.0, "why"),
        h.ExecutionResumed(4.0, None),
        h.WorkflowPatched(4.0, "fix-1"),
        h.ExecutionRerun(4.0, "src", 7),
    ]
    assert set(h.EVENT_TYPES.values()) == {type(e) for e in events}
    for event in events:
        assert h.decode_event(h.encode_event(event)) == event


def _patched_registry(seen: list[bool]) -> Registry:
    reg = Registry()

    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, None]:
        yield ctx.create_timer(timedelta(seconds=1))
        seen.append(ctx.is_patched("fix"))
        if ctx.is_patched("fix"):
            yield ctx.call_activity("new_step")

    reg.add_workflow(wf)
    return reg


def test_is_patched_true_for_new_runs_and_recorded() -> None:
    seen: list[bool] = []
    ex = make(_patched_registry(seen))
    first = ex.run_turn([started("wf")], T0)
    turn = ex.run_turn([h.TimerFired(T0, 0, T0)], T0)
    assert seen == [True]
    assert turn.actions == [h.ScheduleActivity(1, "new_step", None)]
    assert h.WorkflowPatched(T0, "fix") in turn.history
    # A replay of that run takes the patched branch again.
    replayed = make(_patched_registry(seen))
    replayed.replay([*first.history, *turn.history])
    assert seen[-1] is True


def test_is_patched_false_for_runs_that_passed_before_the_patch() -> None:
    seen: list[bool] = []
    ex = make(_patched_registry(seen))
    # History from the old code: the timer fired and the run finished, no marker.
    ex.replay(
        [
            started("wf"),
            h.TimerCreated(T0, 0, T0 + 1),
            h.TimerFired(T0, 0, T0),
            h.ExecutionCompleted(T0, "COMPLETED"),
        ]
    )
    assert seen == [False]


def test_versions_new_runs_take_latest_and_record_it() -> None:
    reg = Registry()

    def v1(ctx: outlast.WorkflowContext) -> str:
        return "one"

    def v2(ctx: outlast.WorkflowContext) -> str:
        return "two"

    reg.add_workflow(v1, "order", "1")
    reg.add_workflow(v2, "order", "10")
    turn = make(reg).run_turn([started("order")], T0)
    assert turn.completion is not None and turn.completion.result == '"two"'
    assert turn.history[0] == h.ExecutionStarted(T0, "order", None, None, "10")
    old = make(reg).run_turn([h.ExecutionStarted(T0, "order", None, None, "1")], T0)
    assert old.completion is not None and old.completion.result == '"one"'
    with pytest.raises(outlast.UnknownWorkflowError, match="version '3'"):
        make(reg).run_turn([h.ExecutionStarted(T0, "order", None, None, "3")], T0)


def test_events_in_the_turn_that_continued_as_new_go_to_the_next_run() -> None:
    reg = Registry()

    def wf(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, None]:
        yield ctx.wait_for_external_event("item")
        ctx.continue_as_new(n + 1, save_events=True)

    reg.add_workflow(wf)
    ex = make(reg)
    ex.run_turn([started("wf", "0")], T0)
    events = [h.EventRaised(T0, "item", '"a"'), h.EventRaised(T0, "item", '"b"')]
    turn = ex.run_turn([*events, h.ExecutionTerminated(T0, None)], T0)
    assert turn.completion is not None
    kinds = [(type(e).__name__, getattr(e, "input", None)) for e in turn.completion.carryover]
    assert kinds == [("EventRaised", '"b"'), ("ExecutionTerminated", None)]
