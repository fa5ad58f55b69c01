"""``build_turn``: a turn's actions to its records, with no executor involved (the
same rules serve the in-process generator and SDK workers on a stream)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from outlast.core import history as h
from outlast.core.executor import _HANDLERS
from outlast.core.times import NEVER
from outlast.core.turn import InstanceView, Turn, TurnRecords, build_turn
from outlast.errors import FailureDetails

S = 1_000_000_000
NOW = 5_000 * S
VIEW = InstanceView("wf-1", "exec-1", "order")
CHILD_VIEW = InstanceView("kid", "exec-k", "pack", h.ParentInfo("wf-1", "exec-1", 7, "order"), 1)


@pytest.fixture
def ids() -> Iterator[str]:
    return (f"new-{n}" for n in range(100))


def build(
    view: InstanceView, actions: list[h.Action], ids: Iterator[str], **turn: object
) -> TurnRecords:
    marker = h.OrchestratorStarted(NOW)
    return build_turn(view, [marker], Turn(actions, **turn), NOW, new_id=lambda: next(ids))  # type: ignore[arg-type]


def test_every_event_kind_has_exactly_one_handler() -> None:
    assert set(_HANDLERS) == set(h.EVENT_TYPES.values())


def test_an_activity_is_recorded_and_scheduled(ids: Iterator[str]) -> None:
    action = h.ScheduleActivity(0, "charge", '{"n":1}', task_execution_id="x-1", source="a.py:3")
    records = build(VIEW, [action], ids)
    assert records.history[1] == h.TaskScheduled(
        NOW, 0, "charge", '{"n":1}', task_execution_id="x-1", source="a.py:3"
    )
    assert records.activities == [action]
    assert records.status == "RUNNING" and not records.finished


def test_timers_keep_their_exact_time_name_and_origin(ids: Iterator[str]) -> None:
    fire = NOW + 90 * S + 123
    timer = h.StartTimer(1, fire, "nap", h.ORIGIN_TIMER)
    records = build(VIEW, [timer], ids)
    assert records.history[1] == h.TimerCreated(NOW, 1, fire, "nap", h.ORIGIN_TIMER)
    assert records.timers == [h.TimerFired(0, 1, fire)]


def test_the_never_timer_of_an_open_event_wait_is_recorded_but_not_scheduled(
    ids: Iterator[str],
) -> None:
    wait = h.StartTimer(2, NEVER, origin=h.ORIGIN_EVENT, origin_name="approve")
    records = build(VIEW, [wait], ids)
    assert isinstance(records.history[1], h.TimerCreated)
    assert records.history[1].fire_at == NEVER
    assert records.timers == []


def test_a_child_gets_its_parent_and_depth(ids: Iterator[str]) -> None:
    child = h.StartChildWorkflow(3, "pack", "wf-1-3", '"box"')
    records = build(VIEW, [child], ids)
    assert records.history[1] == h.SubOrchestrationCreated(NOW, 3, "pack", "wf-1-3", '"box"')
    (created,) = records.children
    assert created.execution_id == "new-0"
    assert created.started.parent == h.ParentInfo("wf-1", "exec-1", 3, "order")
    assert created.started.depth == 1
    assert created.conflict.task_id == 3


@pytest.mark.parametrize(
    ("view", "instance_id", "error"),
    [
        (VIEW, "bad\x00id", "ValueError"),
        (InstanceView("deep", "e", "r", None, 64), "deep-0", "ChildDepthExceededError"),
    ],
)
def test_a_child_that_may_not_start_fails_back_to_its_parent(
    ids: Iterator[str], view: InstanceView, instance_id: str, error: str
) -> None:
    records = build(view, [h.StartChildWorkflow(4, "pack", instance_id, None)], ids)
    assert records.children == []
    (back,) = records.outgoing
    assert back.instance_id == view.instance_id and back.execution_id == view.execution_id
    assert isinstance(back.event, h.SubOrchestrationFailed) and back.event.task_id == 4
    assert back.event.failure.error_type == error
    assert records.refused


def test_sending_an_event_records_it_and_delivers_it(ids: Iterator[str]) -> None:
    records = build(VIEW, [h.SendEvent(5, "other", "ping", "1")], ids)
    assert records.history[1] == h.EventSent(NOW, 5, "other", "ping", "1")
    (sent,) = records.outgoing
    assert (sent.instance_id, sent.execution_id) == ("other", None)
    assert sent.event == h.EventRaised(NOW, "ping", "1")


def test_terminating_another_instance_records_nothing_here(ids: Iterator[str]) -> None:
    records = build(VIEW, [h.TerminateInstance("other", '"why"', recursive=False)], ids)
    assert records.history == [h.OrchestratorStarted(NOW)]
    assert records.outgoing[0].event == h.ExecutionTerminated(NOW, '"why"', False)


def test_completion_notifies_the_parent_and_ignores_what_follows(ids: Iterator[str]) -> None:
    done = h.CompleteWorkflow("COMPLETED", '"ok"')
    late = h.ScheduleActivity(9, "never", None)
    records = build(CHILD_VIEW, [done, late], ids)
    assert records.finished and records.status == "COMPLETED" and records.output == '"ok"'
    assert records.history[-1] == h.ExecutionCompleted(NOW, "COMPLETED", '"ok"')
    assert records.activities == []
    (parent,) = records.outgoing
    assert (parent.instance_id, parent.execution_id) == ("wf-1", "exec-1")
    assert parent.event == h.SubOrchestrationCompleted(NOW, 7, '"ok"')


def test_failure_and_termination_reach_the_parent_as_failures(ids: Iterator[str]) -> None:
    failure = FailureDetails("ValueError", "bad")
    records = build(CHILD_VIEW, [h.CompleteWorkflow("FAILED", failure=failure)], ids)
    assert records.failure == failure
    assert records.outgoing[0].event == h.SubOrchestrationFailed(NOW, 7, failure)
    stopped = build(
        CHILD_VIEW, [h.CompleteWorkflow("TERMINATED", terminate_children=("g1", "g2"))], ids
    )
    targets = [(o.instance_id, type(o.event).__name__) for o in stopped.outgoing]
    assert targets == [
        ("g1", "ExecutionTerminated"),
        ("g2", "ExecutionTerminated"),
        ("wf-1", "SubOrchestrationFailed"),
    ]


def test_continue_as_new_starts_a_fresh_execution_with_the_carried_events(
    ids: Iterator[str],
) -> None:
    carried = h.EventRaised(NOW, "item", '"b"')
    records = build(
        CHILD_VIEW,
        [
            h.ScheduleActivity(0, "dropped", None),
            h.CompleteWorkflow("CONTINUED_AS_NEW", "2", carryover=(carried,), new_version="v2"),
        ],
        ids,
    )
    new = records.continue_as_new
    assert new is not None and new.execution_id == "new-0" and new.input == "2"
    assert new.started == h.ExecutionStarted(NOW, "pack", "2", CHILD_VIEW.parent, "v2", depth=1)
    assert new.carryover == [carried]
    assert records.activities == []  # the old run's work goes with its history
    assert not records.finished


def test_the_version_and_patches_ride_on_the_marker_and_the_start(ids: Iterator[str]) -> None:
    started = h.ExecutionStarted(NOW, "order")
    records = build_turn(
        VIEW,
        [h.OrchestratorStarted(NOW), started],
        Turn([], version="3", patches=("fix",)),
        NOW,
        new_id=lambda: next(ids),
    )
    assert records.history[0] == h.OrchestratorStarted(NOW, "3", ("fix",))
    assert records.history[1] == h.ExecutionStarted(NOW, "order", version="3")


def test_a_suspended_turn_reports_suspended_and_custom_status_rides_along(
    ids: Iterator[str],
) -> None:
    records = build(VIEW, [], ids, suspended=True, custom_status='"s"', custom_status_set=True)
    assert records.status == "SUSPENDED"
    assert (records.custom_status, records.custom_status_set) == ('"s"', True)
