"""The pure replay core, driven by hand-built histories: no store, no threads.

Histories come from the builders in ``outlast.testing.history``; turns run through
``history.run_turn``, which stamps the events as the worker does and builds the
turn's records with ``core.turn.build_turn``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import pytest

import outlast
from outlast.core import history as h
from outlast.core.codec import decode_event, encode_event
from outlast.core.executor import WorkflowExecutor
from outlast.core.registry import Registry
from outlast.core.times import NEVER
from outlast.errors import FailureDetails, NonDeterminismError
from outlast.testing.history import completed, run_turn, scheduled, started

S = 1_000_000_000  # a second, in history time
T0 = 1_000 * S


def plain(actions: list[h.Action]) -> list[h.Action]:
    """Actions without the bookkeeping fields (call site, origin, execution ID)."""
    out: list[h.Action] = []
    for a in actions:
        for name in ("source", "task_execution_id", "origin", "origin_name"):
            if hasattr(a, name):
                a = dataclasses.replace(a, **{name: None})
        out.append(a)
    return out


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
    turn = run_turn(ex, [started("chain", "1")], T0)
    assert plain(turn.actions) == [h.ScheduleActivity(0, "inc", "1")]
    assert [type(e) for e in turn.history] == [
        h.OrchestratorStarted,
        h.ExecutionStarted,
        h.TaskScheduled,
    ]
    assert turn.completion is None and turn.status == "RUNNING"


def test_result_resumes_and_completes() -> None:
    ex = make(chain_registry())
    run_turn(ex, [started("chain", "1")], T0)
    turn = run_turn(ex, [completed(0, "2")], T0 + S)
    assert plain(turn.actions) == [h.ScheduleActivity(1, "inc", "2")]
    turn = run_turn(ex, [completed(1, "3")], T0 + 2 * S)
    assert turn.completion is not None
    assert turn.completion.status == "COMPLETED"
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
    turn = run_turn(ex, [completed(1, "3")], T0 + 5 * S)
    assert plain(turn.actions) == []
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
    run_turn(ex, [completed(0, None)], T0 + S)
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
    run_turn(ex, [started("wf")], T0)
    failure = FailureDetails("ValueError", "bad", "trace")
    turn = run_turn(ex, [h.TaskFailed(T0, 0, failure)], T0)
    assert caught[0].details == failure
    assert turn.completion is not None and turn.completion.result == '"handled"'


def test_uncaught_exception_fails_workflow_with_details() -> None:
    reg = Registry()

    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, None]:
        yield ctx.create_timer(timedelta(seconds=1))
        raise KeyError("missing")

    reg.add_workflow(wf)
    ex = make(reg)
    run_turn(ex, [started("wf")], T0)
    turn = run_turn(ex, [h.TimerFired(T0, 0, T0 + S)], T0 + S)
    assert turn.completion is not None
    assert turn.completion.status == "FAILED"
    assert turn.completion.failure is not None
    assert turn.completion.failure.error_type == "KeyError"


def test_timer_time_comes_from_history() -> None:
    reg = Registry()

    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, None]:
        yield ctx.create_timer(ctx.current_utc_datetime + timedelta(minutes=5))

    reg.add_workflow(wf)
    turn = run_turn(make(reg), [started("wf")], T0)
    assert plain(turn.actions) == [h.StartTimer(0, T0 + 300 * S)]


def test_events_raised_early_are_buffered_in_order_case_insensitively() -> None:
    reg = Registry()

    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, list[Any]]:
        yield ctx.create_timer(timedelta(seconds=1))
        a = yield ctx.wait_for_external_event("Approval")
        b = yield ctx.wait_for_external_event("approval")
        return [a, b]

    reg.add_workflow(wf)
    ex = make(reg)
    run_turn(ex, [started("wf")], T0)
    run_turn(ex, [h.EventRaised(T0, "APPROVAL", "1"), h.EventRaised(T0, "approval", "2")], T0)
    turn = run_turn(ex, [h.TimerFired(T0, 0, T0 + S)], T0 + S)
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
    first = run_turn(ex, [started("wf")], T0)
    # Task 0 records what the event wait waits for (a timer that never fires).
    assert [(a.task_id, a.fire_at, a.origin_name) for a in first.timers] == [
        (0, NEVER, "go"),
        (1, T0 + 24 * 3600 * S, None),
    ]
    turn = run_turn(ex, [h.TimerFired(T0, 1, T0)], T0)
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
    first = run_turn(ex, [started("wf")], T0)
    assert plain(first.actions) == [h.StartTimer(0, T0 + 10 * S)]
    turn = run_turn(ex, [h.TimerFired(T0 + 10 * S, 0, T0 + 10 * S)], T0 + 10 * S)
    assert turn.completion is not None and turn.completion.result == '"timed out"'


def test_when_all_of_nothing_completes_at_once() -> None:
    reg = Registry()

    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, list[Any]]:
        return (yield outlast.when_all([]))

    reg.add_workflow(wf)
    turn = run_turn(make(reg), [started("wf")], T0)
    assert turn.completion is not None and turn.completion.result == "[]"


def test_retry_schedules_timer_then_new_attempt() -> None:
    reg = Registry()
    policy = outlast.RetryPolicy(timedelta(seconds=2), max_number_of_attempts=2)

    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, Any]:
        return (yield ctx.call_activity("flaky", retry_policy=policy))

    reg.add_workflow(wf)
    ex = make(reg)
    run_turn(ex, [started("wf")], T0)
    failure = FailureDetails("IOError", "down")
    turn = run_turn(ex, [h.TaskFailed(T0, 0, failure)], T0)
    assert plain(turn.actions) == [h.StartTimer(1, T0 + 2 * S)]
    turn = run_turn(ex, [h.TimerFired(T0 + 2 * S, 1, T0 + 2 * S)], T0 + 2 * S)
    assert plain(turn.actions) == [h.ScheduleActivity(2, "flaky", None, attempt=2)]
    turn = run_turn(ex, [h.TaskFailed(T0 + 2 * S, 2, failure)], T0 + 2 * S)
    assert turn.completion is not None and turn.completion.status == "FAILED"


def test_continue_as_new_carries_unconsumed_events_when_asked() -> None:
    reg = Registry()

    def wf(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, None]:
        yield ctx.create_timer(timedelta(seconds=1))
        ctx.continue_as_new(n + 1, save_events=True)

    reg.add_workflow(wf)
    ex = make(reg)
    run_turn(ex, [started("wf", "1")], T0)
    turn = run_turn(ex, [h.EventRaised(T0, "x", '"v"'), h.TimerFired(T0, 0, T0)], T0)
    assert turn.completion is not None
    assert turn.completion.status == "CONTINUED_AS_NEW"
    assert turn.completion.result == "2"
    assert [e.name for e in turn.completion.carryover] == ["x"]


def test_suspended_workflow_holds_events_until_resumed() -> None:
    reg = chain_registry()
    ex = make(reg)
    run_turn(ex, [started("chain", "1")], T0)
    turn = run_turn(ex, [h.ExecutionSuspended(T0), completed(0, "2")], T0)
    assert turn.status == "SUSPENDED" and turn.actions == []
    turn = run_turn(ex, [h.ExecutionResumed(T0)], T0)
    assert plain(turn.actions) == [h.ScheduleActivity(1, "inc", "2")]


def test_terminate_ends_with_output() -> None:
    ex = make(chain_registry())
    run_turn(ex, [started("chain", "1")], T0)
    turn = run_turn(ex, [h.ExecutionTerminated(T0, '"stop"')], T0)
    assert turn.completion is not None
    assert turn.completion.status == "TERMINATED"
    assert turn.completion.result == '"stop"'


def test_new_uuid_is_deterministic() -> None:
    reg = Registry()
    ids: list[str] = []

    def wf(ctx: outlast.WorkflowContext) -> str:
        ids.append(ctx.new_uuid())
        ids.append(ctx.new_uuid())
        return "ok"

    reg.add_workflow(wf)
    run_turn(make(reg), [started("wf")], T0)
    make(reg).replay([started("wf")])
    assert ids[0] == ids[2] and ids[1] == ids[3] and ids[0] != ids[1]


def test_yielding_a_non_task_fails_clearly() -> None:
    reg = Registry()

    def wf(ctx: outlast.WorkflowContext) -> Generator[Any, Any, None]:
        yield 42

    reg.add_workflow(wf)
    turn = run_turn(make(reg), [started("wf")], T0)
    assert turn.completion is not None and turn.completion.failure is not None
    assert "only yield tasks" in turn.completion.failure.message


def test_unserializable_result_fails_the_workflow() -> None:
    reg = Registry()

    def wf(ctx: outlast.WorkflowContext) -> object:
        return object()

    reg.add_workflow(wf)
    turn = run_turn(make(reg), [started("wf")], T0)
    assert turn.completion is not None and turn.completion.failure is not None
    assert turn.completion.failure.error_type == "SerializationError"


def test_history_codec_round_trips_every_event_kind() -> None:
    parent = h.ParentInfo("p", "e", 3, "parent_wf")
    failure = FailureDetails("E", "m", "t", FailureDetails("Inner", "cause"), non_retriable=True)
    events: list[h.Event] = [
        h.OrchestratorStarted(T0, "v2", ("fix-1",)),
        h.ExecutionStarted(
            T0 + 1, "wf", '{"a":1}', parent, "v2", T0 + 5, "00-ab-cd-01", {"k": "v"}, 2
        ),
        h.TaskScheduled(T0, 0, "act", None, "1", "exec-1", None, "wf.py:12"),
        h.TaskCompleted(T0, 0, "1", "exec-1"),
        h.TaskFailed(T0, 1, failure),
        h.TimerCreated(T0, 2, T0 + 9 * S, "nap", h.ORIGIN_TIMER, None, "wf.py:20"),
        h.TimerCreated(T0, 3, NEVER, None, h.ORIGIN_EVENT, "go"),
        h.TimerFired(T0 + 9 * S, 2, T0 + 9 * S),
        h.EventRaised(T0, "go", '"x"'),
        h.EventSent(T0, 6, "other", "ping", "1"),
        h.SubOrchestrationCreated(T0, 4, "child", "p-4", None),
        h.SubOrchestrationCompleted(T0, 4, "2"),
        h.SubOrchestrationFailed(T0, 5, failure),
        h.ExecutionCompleted(T0, "FAILED", None, failure),
        h.ExecutionTerminated(T0, '"o"', False),
        h.ExecutionSuspended(T0, "why"),
        h.ExecutionResumed(T0, None),
        h.WorkflowPatched(T0, "fix-1"),
        h.ExecutionRerun(T0, "src", 7),
    ]
    assert set(h.EVENT_TYPES.values()) == {type(e) for e in events}
    for event in events:
        assert decode_event(encode_event(event)) == event


def test_times_are_exact_to_the_nanosecond_even_past_64_bits() -> None:
    event = h.TimerCreated(T0 + 123_456_789, 0, NEVER)
    text = encode_event(event)
    assert '"253402300799999999999"' in text  # past a 64-bit JSON integer: a string
    assert decode_event(text) == event


def test_float_seconds_of_older_histories_decode() -> None:
    old = '["TimerCreated",{"ts":1000.25,"task_id":0,"fire_at":1060.5}]'
    assert decode_event(old) == h.TimerCreated(1000 * S + S // 4, 0, 1060 * S + S // 2)


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
    first = run_turn(ex, [started("wf")], T0)
    turn = run_turn(ex, [h.TimerFired(T0, 0, T0)], T0)
    assert seen == [True]
    assert plain(turn.actions) == [h.ScheduleActivity(1, "new_step", None)]
    marker = turn.history[0]
    assert isinstance(marker, h.OrchestratorStarted) and marker.patches == ("fix",)
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
            h.TimerCreated(T0, 0, T0 + S),
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
    turn = run_turn(make(reg), [started("order")], T0)
    assert turn.completion is not None and turn.completion.result == '"two"'
    assert turn.history[1] == h.ExecutionStarted(T0, "order", None, None, "10")
    old = run_turn(make(reg), [h.ExecutionStarted(T0, "order", None, None, "1")], T0)
    assert old.completion is not None and old.completion.result == '"one"'
    with pytest.raises(outlast.UnknownWorkflowError, match="version '3'"):
        run_turn(make(reg), [h.ExecutionStarted(T0, "order", None, None, "3")], T0)


def test_events_in_the_turn_that_continued_as_new_go_to_the_next_run() -> None:
    reg = Registry()

    def wf(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, None]:
        yield ctx.wait_for_external_event("item")
        ctx.continue_as_new(n + 1, save_events=True)

    reg.add_workflow(wf)
    ex = make(reg)
    run_turn(ex, [started("wf", "0")], T0)
    events = [h.EventRaised(T0, "item", '"a"'), h.EventRaised(T0, "item", '"b"')]
    turn = run_turn(ex, [*events, h.ExecutionTerminated(T0, None)], T0)
    assert turn.completion is not None
    kinds = [(type(e).__name__, getattr(e, "input", None)) for e in turn.completion.carryover]
    assert kinds == [("EventRaised", '"b"'), ("ExecutionTerminated", None)]
