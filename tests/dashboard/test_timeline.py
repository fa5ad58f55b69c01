"""History dicts to timeline bars."""

from __future__ import annotations

from outlast.dashboard import timeline as tl
from tests.dashboard.histories import at, ev, started


def test_activities_become_bars_from_schedule_to_result() -> None:
    t = tl.build(
        [
            started(),
            ev("TaskScheduled", 0, task_id=0, name="charge", input='"x"'),
            ev("TaskCompleted", 2, task_id=0, result='"ok"'),
            ev("TaskScheduled", 2, task_id=1, name="ship", input=None),
            ev("TaskFailed", 3, task_id=1, failure={"error_type": "IOError", "message": "down"}),
        ]
    )
    charge, ship = t.bars
    assert (charge.kind, charge.label, charge.state) == ("activity", "charge", "done")
    assert (charge.start, charge.end, charge.seq, charge.end_seq) == (at(0), at(2), 1, 2)
    assert (ship.state, ship.detail, ship.rerun_seq) == ("failed", "IOError: down", 3)
    assert (t.start, t.end) == (at(0), at(3))
    assert [lane.label for lane in t.lanes] == ["charge", "ship"]


def test_retries_share_a_lane_with_their_waits() -> None:
    t = tl.build(
        [
            started(),
            ev("TaskScheduled", 0, task_id=0, name="flaky"),
            ev("TaskFailed", 1, task_id=0, failure={"error_type": "E", "message": "1"}),
            ev("TimerCreated", 1, task_id=1, fire_at=at(3)),
            ev("TimerFired", 3, task_id=1, fire_at=at(3)),
            ev("TaskScheduled", 3, task_id=2, name="flaky"),
            ev("TaskCompleted", 4, task_id=2),
        ]
    )
    [lane] = t.lanes
    first, wait, second = lane.bars
    assert (first.attempt, first.state) == (1, "failed")
    assert (wait.kind, wait.fire_at, wait.end) == ("retry", at(3), at(3))
    assert (second.attempt, second.state, second.start) == (2, "done", at(3))


def test_a_timer_after_a_caught_failure_elsewhere_stays_a_timer() -> None:
    t = tl.build(
        [
            started(),
            ev("TaskScheduled", 0, task_id=0, name="a"),
            ev("TimerCreated", 0, task_id=1, fire_at=at(60)),
        ]
    )
    assert [(b.kind, b.label, b.end) for b in t.bars] == [
        ("activity", "a", None),
        ("timer", "timer", None),
    ]
    assert [b.kind for b in t.open_bars()] == ["activity", "timer"]


def test_event_waits_from_timer_origins_close_on_the_event_or_time_out() -> None:
    t = tl.build(
        [
            started(),
            ev(
                "TimerCreated",
                0,
                task_id=0,
                fire_at=at(86400),
                name="approval",
                origin={"kind": "external_event", "name": "approval"},
            ),
            ev(
                "TimerCreated",
                0,
                task_id=1,
                fire_at="9999-12-31T23:59:59+00:00",
                origin="external_event",
                name="forever",
            ),
            ev(
                "TimerCreated",
                0,
                task_id=2,
                fire_at=at(5),
                origin={"external_event": {"name": "late"}},
            ),
            ev("EventRaised", 4, name="APPROVAL", input='"yes"'),
            ev("TimerFired", 5, task_id=2, fire_at=at(5)),
        ]
    )
    approval, forever, late = t.bars
    assert (approval.kind, approval.label, approval.state, approval.end) == (
        "event",
        "approval",
        "done",
        at(4),
    )
    assert approval.fire_at == at(86400)
    assert (forever.label, forever.fire_at, forever.detail, forever.end) == (
        "forever",
        None,
        "no timeout",
        None,
    )
    assert (late.label, late.state) == ("late", "timed-out")
    assert [m.label for m in t.markers] == ["event APPROVAL"]


def test_children_link_their_instance_and_sources_are_kept() -> None:
    t = tl.build(
        [
            started(),
            ev(
                "SubOrchestrationCreated",
                0,
                task_id=0,
                name="pack",
                instance_id="p-0",
                source={"file": "/app/flows.py", "line": 12},
            ),
            ev("SubOrchestrationCompleted", 1, task_id=0, result="1"),
            ev("TaskScheduled", 1, task_id=1, name="x", source="/app/flows.py:14"),
        ]
    )
    child, x = t.bars
    assert (child.kind, child.child_id, child.state) == ("child", "p-0", "done")
    assert child.source is not None and child.source.where == "/app/flows.py:12"
    assert x.source is not None and (x.source.file, x.source.line) == ("/app/flows.py", 14)


def test_unknown_kinds_and_fields_are_ignored() -> None:
    t = tl.build(
        [
            started(),
            ev("OrchestratorStarted", 0),
            ev("SomethingNew", 1, weird={"a": 1}),
            ev("TaskScheduled", 1, task_id=0, name="a", extra=[1, 2]),
            ev("TaskCompleted", 2, task_id="not-an-int"),
            {"kind": "TaskCompleted"},  # no time at all
            ev("EventSent", 2, name="ping", instance_id="other"),
        ]
    )
    [bar] = t.bars
    assert bar.end is None  # the result named no task it knows
    assert [m.label for m in t.markers] == ["sent ping to other"]


def test_suspension_spans_and_the_end_marker() -> None:
    t = tl.build(
        [
            started(),
            ev("ExecutionSuspended", 1, reason="ops"),
            ev("ExecutionResumed", 2, reason=None),
            ev("ExecutionCompleted", 3, status="COMPLETED", result="1"),
        ]
    )
    [span] = t.bars
    assert (span.kind, span.start, span.end, span.detail) == ("suspended", at(1), at(2), "ops")
    assert [(m.kind, m.label) for m in t.markers] == [("end", "COMPLETED")]


def test_a_thousand_parallel_activities_fold_into_one_row() -> None:
    history = [started()]
    history += [ev("TaskScheduled", 0, task_id=n, name="work") for n in range(1000)]
    history += [ev("TaskScheduled", 0, task_id=1000, name="other")]
    history += [ev("TaskCompleted", 1 + n / 1000, task_id=n) for n in range(990)]
    t = tl.build(history)
    assert t.grouped and t.hidden_lanes == 0
    work, other = t.lanes
    assert (work.label, work.members, len(work.bars)) == ("work", 1000, 1000)
    assert work.counts() == {"done": 990, "open": 10}
    assert (other.label, other.members) == ("other", 1)


def test_rows_beyond_the_limit_are_counted_not_drawn() -> None:
    history = [started()]
    history += [ev("TaskScheduled", 0, task_id=n, name=f"a{n}") for n in range(tl.MAX_LANES + 5)]
    t = tl.build(history)
    assert len(t.lanes) == tl.MAX_LANES and t.hidden_lanes == 5


# --- the vocabulary of exact histories (OrchestratorStarted, origins, execution IDs) ----

NEVER = 253402300799 * 10**9 + 999_999_999


def test_attempts_of_one_call_share_its_task_execution_id() -> None:
    t = tl.build(
        [
            ev("OrchestratorStarted", 0),
            started(),
            ev("TaskScheduled", 0, task_id=0, name="pay", task_execution_id="x1"),
            ev("TaskScheduled", 0, task_id=1, name="pay", task_execution_id="x2"),
            ev("TaskFailed", 1, task_id=0, failure={"message": "no"}),
            ev(
                "TimerCreated",
                1,
                task_id=2,
                fire_at=int(at(2) * 1e9),
                origin="activity_retry",
                origin_name="x1",
            ),
            ev("TimerFired", 2, task_id=2, fire_at=int(at(2) * 1e9)),
            ev("TaskScheduled", 2, task_id=3, name="pay", task_execution_id="x1"),
        ]
    )
    first, second = t.lanes
    assert [(b.kind, b.attempt) for b in first.bars] == [
        ("activity", 1),
        ("retry", 1),
        ("activity", 2),
    ]
    assert first.bars[1].fire_at == at(2)  # nanoseconds read as such
    assert [(b.kind, b.attempt) for b in second.bars] == [("activity", 1)]


def test_waits_recorded_as_timers_with_an_event_origin() -> None:
    t = tl.build(
        [
            started(),
            ev(
                "TimerCreated",
                0,
                task_id=0,
                fire_at=NEVER,
                origin="external_event",
                origin_name="approve",
                source="/app/flows.py:9",
            ),
            ev(
                "TimerCreated",
                0,
                task_id=1,
                fire_at=int(at(60) * 1e9),
                origin="create_timer",
                name="reminder",
            ),
        ]
    )
    wait, timer = t.bars
    assert (wait.kind, wait.label, wait.fire_at, wait.detail) == (
        "event",
        "approve",
        None,
        "no timeout",
    )
    assert wait.source is not None and wait.source.short == "app/flows.py:9"
    assert (timer.kind, timer.label, timer.fire_at) == ("timer", "reminder", at(60))
