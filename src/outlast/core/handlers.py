"""The executor's event handlers, one per kind of history event (a part of
``WorkflowExecutor``, ``executor.py``): what each event does to the run's tasks,
timers, waits and completion. No I/O, no clock, no threads here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from outlast.core import history as h
from outlast.core.commands import Commands
from outlast.core.context import WorkflowContext
from outlast.core.serialization import from_json
from outlast.core.status import WorkflowStatus
from outlast.core.turn import describe_record, record_of
from outlast.errors import (
    ActivityTimeoutError,
    FailureDetails,
    NonDeterminismError,
    OutlastError,
    TaskFailedError,
)


@dataclass(slots=True)
class Completion:
    status: WorkflowStatus
    result: str | None = None
    failure: FailureDetails | None = None
    # Continue-as-new: the next run's input and the unconsumed events it inherits.
    new_input: str | None = None
    carryover: list[h.Event] = field(default_factory=list)
    # Terminate: the running children to terminate with it.
    terminate_children: list[str] = field(default_factory=list)


class EventHandlers(Commands):
    """Part of ``WorkflowExecutor``: its state, declared here, is set there."""

    name: str
    parent: h.ParentInfo | None
    depth: int
    scheduled_time: int | None
    trace_context: str | None
    version: str | None
    completion: Completion | None
    suspended: bool
    _ctx: WorkflowContext
    _gen: Generator[Any, Any, Any] | None
    _suspended_events: list[h.Event]

    if TYPE_CHECKING:  # WorkflowExecutor's

        def _step(self, value: Any, exc: BaseException | None) -> None: ...
        def _finish(self, value: Any) -> None: ...
        def _fail(self, exc: BaseException) -> None: ...
        def _resume(self) -> None: ...

    def _on_started(self, event: h.ExecutionStarted) -> None:
        definition = self.registry.workflow(event.name, event.version)
        self.name = event.name
        self.parent = event.parent
        self.depth = event.depth
        self.scheduled_time = event.scheduled_time
        self.trace_context = event.trace_context
        self.version = definition.version
        try:
            result = definition.fn(*definition.arguments(self._ctx, event.input))
        except BaseException as e:
            self._fail(e)
            return
        if isinstance(result, Generator):
            self._gen = result
            self._step(None, None)
        else:
            self._finish(result)

    def _on_action_record(self, event: h.Event) -> None:
        task_id: int = event.task_id  # type: ignore[attr-defined]
        action = self._pending.pop(task_id, None)
        if action is None:
            raise NonDeterminismError(
                f"step {task_id}: history records {describe_record(event)}, but the "
                f"workflow code did not schedule anything at this step"
            )
        expected = record_of(action, event.ts)
        if type(expected) is not type(event) or _record_name(expected) != _record_name(event):
            raise NonDeterminismError(
                f"step {task_id}: history records {describe_record(event)}, but the "
                f"workflow code now schedules {describe_record(expected)}"
            )

    def _on_child_completed(self, event: h.SubOrchestrationCompleted) -> None:
        self._open_children.pop(event.task_id, None)
        self._on_task_completed(event)

    def _on_task_completed(self, event: h.TaskCompleted | h.SubOrchestrationCompleted) -> None:
        task = self._open.pop(event.task_id, None)
        if task is None:
            return  # a result for a task this run no longer waits for
        try:
            value = from_json(event.result, task.hint)
        except OutlastError as e:
            task._fail(e)
            return
        task._complete(value)

    def _on_task_failed(self, event: h.TaskFailed | h.SubOrchestrationFailed) -> None:
        self._open_children.pop(event.task_id, None)
        task = self._open.pop(event.task_id, None)
        if task is None:
            return
        f = event.failure
        kind = "child workflow" if isinstance(event, h.SubOrchestrationFailed) else "activity"
        # A missed heartbeat fails the attempt on the worker as ActivityTimeoutError.
        error = ActivityTimeoutError if f.error_type == "ActivityTimeoutError" else TaskFailedError
        task._fail(error(f"{kind} failed with {f.error_type}: {f.message}", f))

    def _on_timer_fired(self, event: h.TimerFired) -> None:
        task = self._open.pop(event.task_id, None)
        if task is not None:
            task._complete(None)

    def _on_event_raised(self, event: h.EventRaised) -> None:
        key = event.name.casefold()
        waiters = self._event_waiters.get(key)
        if waiters:
            self._deliver(waiters.popleft(), event)
        else:
            self._event_buffer.setdefault(key, deque()).append(event)

    def _on_terminated(self, event: h.ExecutionTerminated) -> None:
        if self._gen is not None:
            self._gen.close()
        children = list(self._open_children.values()) if event.recursive else []
        self.completion = Completion(
            WorkflowStatus.TERMINATED, result=event.output, terminate_children=children
        )

    def _on_suspended(self, event: h.ExecutionSuspended) -> None:
        self.suspended = True

    def _on_resumed(self, event: h.ExecutionResumed) -> None:
        self.suspended = False
        held, self._suspended_events = self._suspended_events, []
        for e in held:
            if self.suspended:
                self._suspended_events.append(e)
            else:
                # Held events keep their own turn time for determinism on replay.
                HANDLERS[type(e)](self, e)
                self._resume()

    def _on_ignored(self, event: h.Event) -> None:
        pass


def _record_name(event: h.Event) -> str:
    return getattr(event, "name", None) or ""


HANDLERS: dict[type[h.Event], Callable[[EventHandlers, Any], None]] = {
    h.OrchestratorStarted: EventHandlers._on_ignored,
    h.ExecutionStarted: EventHandlers._on_started,
    h.TaskScheduled: EventHandlers._on_action_record,
    h.TimerCreated: EventHandlers._on_action_record,
    h.SubOrchestrationCreated: EventHandlers._on_action_record,
    h.EventSent: EventHandlers._on_action_record,
    h.TaskCompleted: EventHandlers._on_task_completed,
    h.SubOrchestrationCompleted: EventHandlers._on_child_completed,
    h.TaskFailed: EventHandlers._on_task_failed,
    h.SubOrchestrationFailed: EventHandlers._on_task_failed,
    h.TimerFired: EventHandlers._on_timer_fired,
    h.EventRaised: EventHandlers._on_event_raised,
    h.ExecutionTerminated: EventHandlers._on_terminated,
    h.ExecutionSuspended: EventHandlers._on_suspended,
    h.ExecutionResumed: EventHandlers._on_resumed,
    h.ExecutionCompleted: EventHandlers._on_ignored,
    h.WorkflowPatched: EventHandlers._on_ignored,
    h.ExecutionRerun: EventHandlers._on_ignored,
}
