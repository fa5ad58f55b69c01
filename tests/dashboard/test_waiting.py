"""What an instance waits on, from its status, timeline and pending activities."""

from __future__ import annotations

from outlast.client.state import PendingActivity
from outlast.dashboard import timeline as tl
from outlast.dashboard.waiting import concurrency_cap_waits, waiting_on
from tests.dashboard.histories import at, ev, started


def test_open_activities_name_their_worker_or_the_lack_of_one() -> None:
    line = tl.build(
        [
            started(),
            ev("TaskScheduled", 0, task_id=0, name="charge", source={"file": "f.py", "line": 3}),
            ev("TaskScheduled", 0, task_id=1, name="ship"),
            ev("TaskScheduled", 0, task_id=2, name="bill"),
        ]
    )
    waits = waiting_on("RUNNING", line, workers={0: "host:7:abcd", 1: None})
    assert [w.text for w in waits] == [
        "activity charge (task 0): running on worker host:7:abcd",
        "activity ship (task 1): waiting for a worker",
        "activity bill (task 2): finished; its result is on the way",
    ]
    assert waits[0].worker == "host:7:abcd" and waits[0].source is not None


def test_timers_and_event_waits_say_until_when() -> None:
    line = tl.build(
        [
            started(),
            ev("TimerCreated", 0, task_id=0, fire_at=at(60)),
            ev(
                "TimerCreated",
                0,
                task_id=1,
                fire_at=at(3600),
                origin="external_event",
                name="approve",
            ),
            ev(
                "TimerCreated",
                0,
                task_id=2,
                fire_at=None,
                origin={"kind": "external_event", "name": "cancel"},
            ),
        ]
    )
    timer, approve, cancel = waiting_on("RUNNING", line)
    assert (timer.kind, timer.until) == ("timer", at(60))
    assert (approve.kind, approve.text, approve.until) == (
        "event",
        "external event 'approve'",
        at(3600),
    )
    assert (cancel.text, cancel.until) == ("external event 'cancel' (no timeout)", None)


def test_a_running_instance_with_no_open_step_says_what_it_may_wait_for() -> None:
    [wait] = waiting_on("RUNNING", tl.build([started()]))
    assert wait.kind == "unknown" and "external event" in wait.text


def test_stalled_suspended_pending_and_finished() -> None:
    empty = tl.build([started()])
    [stalled] = waiting_on(
        "STALLED", empty, failure={"error_type": "NonDeterminismError", "message": "step 3"}
    )
    assert stalled.kind == "stalled"
    assert "NonDeterminismError: step 3" in stalled.text and "resume" in stalled.text
    [suspended] = waiting_on("SUSPENDED", empty, suspended_reason="maintenance")
    assert "maintenance" in suspended.text
    [pending] = waiting_on("PENDING", tl.build([]))
    assert pending.kind == "start"
    assert waiting_on("COMPLETED", empty) == []


def test_children_link() -> None:
    line = tl.build(
        [started(), ev("SubOrchestrationCreated", 0, task_id=0, name="kid", instance_id="k-1")]
    )
    [child] = waiting_on("RUNNING", line)
    assert (child.kind, child.child_id) == ("child", "k-1")


def test_an_activity_queued_behind_a_limit_says_so() -> None:
    line = tl.build(
        [
            started(),
            ev("TaskScheduled", 0, task_id=0, name="charge"),
            ev("TaskScheduled", 0, task_id=1, name="charge"),
        ]
    )
    pending = [
        PendingActivity(0, "charge", None, waiting_on_limit=True, key="c-42", priority=5),
        PendingActivity(1, "charge", "host:1:ab"),
    ]
    capped = concurrency_cap_waits(pending)
    assert capped == {0: "waiting on its limit (key c-42, priority 5)"}
    queued, running = waiting_on("RUNNING", line, workers={0: None, 1: "host:1:ab"}, capped=capped)
    assert queued.kind == "cap" and "charge (task 0): waiting on its limit" in queued.text
    assert running.kind == "activity" and "running on worker host:1:ab" in running.text


def test_a_start_waiting_on_a_workflow_limit_says_so() -> None:
    pending = [PendingActivity(-1, "job", None, waiting_on_limit=True, priority=3)]
    capped = concurrency_cap_waits(pending)
    [wait] = waiting_on("PENDING", tl.build([]), capped=capped)
    assert (wait.kind, wait.text) == ("cap", "its start: waiting on its limit (priority 3)")
    [plain] = waiting_on("PENDING", tl.build([]), capped={})
    assert plain.kind == "start"
