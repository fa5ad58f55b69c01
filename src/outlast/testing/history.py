"""Build histories by hand and run turns on them, without a store or threads.

Replay tests for your own workflows: build the history a run would have recorded,
replay it against your code, and look at what the code does next::

    from outlast.core.executor import WorkflowExecutor
    from outlast.testing import history as th

    ex = WorkflowExecutor("order-1", "e1", runtime.registry)
    ex.replay([th.turn_start(), th.started("checkout", '{"id": 1}'), th.scheduled(0, "reserve")])
    outcome = th.run_turn(ex, [th.completed(0, '"ok"')], now=th.seconds(5))
    assert [a.name for a in outcome.activities] == ["charge"]

Times are integer nanoseconds (``seconds(5)`` is five seconds past the epoch).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from outlast.core import history as h
from outlast.core.codec import with_ts
from outlast.core.executor import WorkflowExecutor
from outlast.core.times import NS_PER_SECOND, Nanos
from outlast.core.turn import InstanceView, Turn, TurnRecords, build_turn
from outlast.errors import FailureDetails


def seconds(value: float) -> Nanos:
    """``value`` seconds past the epoch, as a history time."""
    return round(value * NS_PER_SECOND)


def turn_start(at: Nanos = 0) -> h.OrchestratorStarted:
    return h.OrchestratorStarted(at)


def started(
    name: str,
    input: str | None = None,
    *,
    at: Nanos = 0,
    parent: h.ParentInfo | None = None,
    version: str | None = None,
) -> h.ExecutionStarted:
    return h.ExecutionStarted(at, name, input, parent, version)


def scheduled(
    task_id: int, name: str, input: str | None = None, *, at: Nanos = 0
) -> h.TaskScheduled:
    return h.TaskScheduled(at, task_id, name, input)


def completed(task_id: int, result: str | None = None, *, at: Nanos = 0) -> h.TaskCompleted:
    return h.TaskCompleted(at, task_id, result)


def failed(
    task_id: int, error_type: str = "ValueError", message: str = "boom", *, at: Nanos = 0
) -> h.TaskFailed:
    return h.TaskFailed(at, task_id, FailureDetails(error_type, message))


def timer_created(
    task_id: int,
    fire_at: Nanos,
    *,
    at: Nanos = 0,
    origin: str | None = None,
    origin_name: str | None = None,
) -> h.TimerCreated:
    return h.TimerCreated(at, task_id, fire_at, origin=origin, origin_name=origin_name)


def timer_fired(task_id: int, fire_at: Nanos, *, at: Nanos | None = None) -> h.TimerFired:
    return h.TimerFired(fire_at if at is None else at, task_id, fire_at)


def event_raised(name: str, data: str | None = None, *, at: Nanos = 0) -> h.EventRaised:
    return h.EventRaised(at, name, data)


def child_created(
    task_id: int, name: str, instance_id: str, input: str | None = None, *, at: Nanos = 0
) -> h.SubOrchestrationCreated:
    return h.SubOrchestrationCreated(at, task_id, name, instance_id, input)


def child_completed(
    task_id: int, result: str | None = None, *, at: Nanos = 0
) -> h.SubOrchestrationCompleted:
    return h.SubOrchestrationCompleted(at, task_id, result)


def child_failed(
    task_id: int, error_type: str = "ValueError", message: str = "boom", *, at: Nanos = 0
) -> h.SubOrchestrationFailed:
    return h.SubOrchestrationFailed(at, task_id, FailureDetails(error_type, message))


def suspended(reason: str | None = None, *, at: Nanos = 0) -> h.ExecutionSuspended:
    return h.ExecutionSuspended(at, reason)


def resumed(reason: str | None = None, *, at: Nanos = 0) -> h.ExecutionResumed:
    return h.ExecutionResumed(at, reason)


def terminated(
    output: str | None = None, *, recursive: bool = True, at: Nanos = 0
) -> h.ExecutionTerminated:
    return h.ExecutionTerminated(at, output, recursive)


@dataclass(slots=True)
class TurnOutcome:
    """One turn: what the code answered, and the records the engine makes of it."""

    turn: Turn
    records: TurnRecords

    @property
    def actions(self) -> list[h.Action]:
        """Every action but the completion, in order."""
        return [a for a in self.turn.actions if not isinstance(a, h.CompleteWorkflow)]

    @property
    def activities(self) -> list[h.ScheduleActivity]:
        return [a for a in self.turn.actions if isinstance(a, h.ScheduleActivity)]

    @property
    def timers(self) -> list[h.StartTimer]:
        return [a for a in self.turn.actions if isinstance(a, h.StartTimer)]

    @property
    def completion(self) -> h.CompleteWorkflow | None:
        return next((a for a in self.turn.actions if isinstance(a, h.CompleteWorkflow)), None)

    @property
    def history(self) -> list[h.Event]:
        return self.records.history

    @property
    def status(self) -> str:
        return self.records.status


def run_turn(executor: WorkflowExecutor, events: Iterable[h.Event], now: Nanos = 0) -> TurnOutcome:
    """Run one turn as the worker would: the events stamped with ``now`` after an
    OrchestratorStarted marker, then the records built from the answer."""
    stamped: list[h.Event] = [h.OrchestratorStarted(now)]
    stamped.extend(e if e.ts == now else with_ts(e, now) for e in events)
    turn, applied = executor.run_turn(stamped)
    view = InstanceView(
        executor.instance_id,
        executor.execution_id,
        executor.name,
        executor.parent,
        executor.depth,
    )
    ids = iter(range(1, 1_000_000))
    records = build_turn(view, applied, turn, now, new_id=lambda: f"exec-{next(ids)}")
    return TurnOutcome(turn, records)
