"""The pure replay core: history in, actions out.

A :class:`WorkflowExecutor` holds one running workflow generator. ``replay`` feeds it
stored history (matching every recorded action against what the code asks for) and
``run_turn`` feeds it new events and collects the actions the code takes. The
runtime keeps executors between turns (the sticky cache), so a new event costs
O(1), not a replay. No I/O, no clock, no threads here.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import deque
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from outlast.core import history as h
from outlast.core.context import WorkflowContext
from outlast.core.registry import Registry, name_of
from outlast.core.retry import RetryPolicy
from outlast.core.serialization import encode_payload, from_json
from outlast.core.status import WorkflowStatus
from outlast.core.task import CompletableTask, Task
from outlast.errors import (
    FailureDetails,
    NonDeterminismError,
    OutlastError,
    TaskFailedError,
    WorkflowTimeoutError,
)

_UUID_NAMESPACE = uuid.UUID("9e1f3c56-4d7a-4b0e-9a51-6f0c2b7d8e41")


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


@dataclass(slots=True)
class TurnResult:
    history: list[h.Event]
    actions: list[h.Action]
    completion: Completion | None
    status: WorkflowStatus
    custom_status: str | None
    custom_status_changed: bool


class WorkflowExecutor:
    """One workflow instance's generator and the bookkeeping to drive it."""

    def __init__(
        self,
        instance_id: str,
        execution_id: str,
        registry: Registry,
        max_payload_bytes: int | None = None,
    ) -> None:
        self.instance_id = instance_id
        self.max_payload_bytes = max_payload_bytes
        self.execution_id = execution_id
        self.name = ""
        self.parent: h.ParentInfo | None = None
        self.version: str | None = None
        self.scheduled_time: float | None = None
        self.registry = registry
        self.now = 0.0
        self.replaying = False
        self.completion: Completion | None = None
        self.suspended = False
        self._ctx = WorkflowContext(self)
        self._gen: Generator[Any, Any, Any] | None = None
        self._waiting: Task[Any] | None = None
        self._sequence = 0
        self._uuid_counter = 0
        self._open: dict[int, CompletableTask[Any]] = {}
        self._open_children: dict[int, str] = {}  # task ID -> child instance ID
        self._pending: dict[int, h.Action] = {}
        self._event_waiters: dict[str, deque[CompletableTask[Any]]] = {}
        self._event_buffer: dict[str, deque[h.EventRaised]] = {}
        self._suspended_events: list[h.Event] = []
        self._continue_as_new: tuple[str | None, bool] | None = None
        self._custom_status: str | None = None
        self._custom_status_changed = False
        self._completion_reported = False
        self._recorded_patches: set[str] = set()
        self._patch_answers: dict[str, bool] = {}
        self._new_patches: list[str] = []

    # --- driving -------------------------------------------------------------------

    def replay(self, events: Iterable[h.Event]) -> None:
        """Rebuild state from stored history; raises NonDeterminismError on mismatch."""
        history = list(events)
        # A patch recorded anywhere in this run counts from the start of the replay.
        self._recorded_patches = {e.name for e in history if isinstance(e, h.WorkflowPatched)}
        self.replaying = True
        try:
            for event in history:
                self._apply(event)
        finally:
            self.replaying = False
        if self.completion is not None:
            self._completion_reported = True
        self._custom_status_changed = False

    def run_turn(self, events: Iterable[h.Event], now: float) -> TurnResult:
        """Apply new events at time ``now``; return what to append and to do."""
        appended: list[h.Event] = []
        for event in events:
            if event.ts != now:
                event = h.with_ts(event, now)
            appended.append(event)
            self._apply(event)
            if isinstance(event, h.ExecutionStarted) and event.version != self.version:
                # Record the version chosen at start, so replays use the same code.
                appended[-1] = dataclasses.replace(event, version=self.version)
        # Work scheduled during replay that history never recorded is new, too.
        actions = list(self._pending.values())
        self._pending.clear()
        appended += [_record_of(action, now) for action in actions]
        if self._new_patches:
            appended += [h.WorkflowPatched(now, name) for name in self._new_patches]
            self._new_patches.clear()
        completion = None
        if self.completion is not None and not self._completion_reported:
            self._completion_reported = True
            completion = self.completion
            if completion.status is not WorkflowStatus.CONTINUED_AS_NEW:
                appended.append(
                    h.ExecutionCompleted(
                        now, completion.status.value, completion.result, completion.failure
                    )
                )
        changed = self._custom_status_changed
        self._custom_status_changed = False
        return TurnResult(
            history=appended,
            actions=actions,
            completion=completion,
            status=self.status,
            custom_status=self._custom_status,
            custom_status_changed=changed,
        )

    @property
    def status(self) -> WorkflowStatus:
        if self.completion is not None:
            return self.completion.status
        if self.suspended:
            return WorkflowStatus.SUSPENDED
        return WorkflowStatus.RUNNING

    @property
    def open_task_count(self) -> int:
        return len(self._open)

    def _apply(self, event: h.Event) -> None:
        self.now = event.ts
        if self.completion is not None:
            if self.replaying and event.is_action_record:
                raise NonDeterminismError(
                    f"step {getattr(event, 'task_id', '?')}: history records "
                    f"{_describe_record(event)} after the workflow code had already "
                    f"finished"
                )
            if self.completion.status is WorkflowStatus.CONTINUED_AS_NEW:
                self._carry_over(event)
            return
        if self.suspended and not event.is_action_record and not isinstance(event, _ALWAYS_APPLIED):
            self._suspended_events.append(event)
            return
        _HANDLERS[type(event)](self, event)
        self._resume()

    def _resume(self) -> None:
        while self.completion is None and self._waiting is not None and self._waiting.is_complete:
            task, self._waiting = self._waiting, None
            exc = task._exception
            self._step(None if exc is not None else task._result, exc)

    def _step(self, value: Any, exc: BaseException | None) -> None:
        assert self._gen is not None
        try:
            yielded = self._gen.send(value) if exc is None else self._gen.throw(exc)
        except StopIteration as stop:
            self._finish(stop.value)
            return
        except Exception as e:
            self._fail(e)
            return
        if self._continue_as_new is not None:
            self._gen.close()
            self._finish(None)
            return
        if not isinstance(yielded, Task):
            self._gen.close()
            self._fail(
                TypeError(
                    f"a workflow may only yield tasks (from ctx.call_activity, "
                    f"create_timer, when_all, ...), not {type(yielded).__name__}"
                )
            )
            return
        self._waiting = yielded

    def _finish(self, value: Any) -> None:
        if self._continue_as_new is not None:
            new_input, save_events = self._continue_as_new
            carry: list[h.Event] = []
            if save_events:
                carry.extend(e for buf in self._event_buffer.values() for e in buf)
            carry.sort(key=lambda e: e.ts)
            self.completion = Completion(
                WorkflowStatus.CONTINUED_AS_NEW, new_input=new_input, carryover=carry
            )
            return
        try:
            result = encode_payload(value, self.max_payload_bytes, "the workflow's result")
        except OutlastError as e:
            self._fail(e)
            return
        self.completion = Completion(WorkflowStatus.COMPLETED, result=result)

    def _carry_over(self, event: h.Event) -> None:
        """Events that arrive in the turn that continued-as-new belong to the next run:
        control requests always, external events when ``save_events`` asked for it."""
        assert self.completion is not None and self._continue_as_new is not None
        if isinstance(event, _ALWAYS_APPLIED) or (
            isinstance(event, h.EventRaised) and self._continue_as_new[1]
        ):
            self.completion.carryover.append(event)

    def _fail(self, exc: BaseException) -> None:
        self.completion = Completion(
            WorkflowStatus.FAILED, failure=FailureDetails.from_exception(exc)
        )

    # --- event handlers (one per kind, see _HANDLERS) --------------------------------

    def _on_started(self, event: h.ExecutionStarted) -> None:
        definition = self.registry.workflow(event.name, event.version)
        self.name = event.name
        self.parent = event.parent
        self.version = definition.version
        self.scheduled_time = event.scheduled_time
        try:
            args: tuple[Any, ...] = (self._ctx,)
            if definition.takes_input:
                args += (from_json(event.input, definition.input_hint),)
            result = definition.fn(*args)
        except Exception as e:
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
                f"step {task_id}: history records {_describe_record(event)}, but the "
                f"workflow code did not schedule anything at this step"
            )
        expected = _record_of(action, event.ts)
        if type(expected) is not type(event) or _record_name(expected) != _record_name(event):
            raise NonDeterminismError(
                f"step {task_id}: history records {_describe_record(event)}, but the "
                f"workflow code now schedules {_describe_record(expected)}"
            )

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
        task._fail(TaskFailedError(f"{kind} failed with {f.error_type}: {f.message}", f))

    def _on_timer_fired(self, event: h.TimerFired) -> None:
        task = self._open.pop(event.task_id, None)
        if task is not None:
            task._complete(None)

    def _on_event_raised(self, event: h.EventRaised) -> None:
        key = event.name.lower()
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
                _HANDLERS[type(e)](self, e)
                self._resume()

    def _on_ignored(self, event: h.Event) -> None:
        pass

    @staticmethod
    def _deliver(task: CompletableTask[Any], event: h.EventRaised) -> None:
        try:
            value = from_json(event.input, task.hint)
        except OutlastError as e:
            task._fail(e)
            return
        task._complete(value)

    # --- what WorkflowContext calls --------------------------------------------------

    def _next_id(self) -> int:
        task_id = self._sequence
        self._sequence += 1
        return task_id

    def call_activity(
        self, activity: Callable[..., Any] | str, input: Any, retry: RetryPolicy | None
    ) -> Task[Any]:
        name = name_of(activity)
        definition = self.registry.activities.get(name)
        hint = definition.result_hint if definition is not None else None
        payload = encode_payload(input, self.max_payload_bytes, "the input of activity {}", name)

        def attempt() -> CompletableTask[Any]:
            task_id = self._sequence
            self._sequence += 1
            task: CompletableTask[Any] = CompletableTask(hint)
            self._open[task_id] = task
            self._pending[task_id] = h.ScheduleActivity(task_id, name, payload)
            return task

        return attempt() if retry is None else self._with_retry(attempt, retry)

    def call_child_workflow(
        self,
        workflow: Callable[..., Any] | str,
        input: Any,
        instance_id: str | None,
        retry: RetryPolicy | None,
    ) -> Task[Any]:
        name = name_of(workflow)
        definition = self.registry.workflows.get(name)
        hint = definition.result_hint if definition is not None else None
        payload = encode_payload(
            input, self.max_payload_bytes, "the input of child workflow {}", name
        )

        def attempt() -> CompletableTask[Any]:
            task_id = self._next_id()
            child_id = instance_id or self._child_instance_id(task_id)
            task: CompletableTask[Any] = CompletableTask(hint)
            self._open[task_id] = task
            self._open_children[task_id] = child_id
            self._pending[task_id] = h.StartChildWorkflow(task_id, name, child_id, payload)
            return task

        return attempt() if retry is None else self._with_retry(attempt, retry)

    def _child_instance_id(self, task_id: int) -> str:
        candidate = f"{self.instance_id}-{task_id}"
        if len(candidate) <= 64:
            return candidate
        return uuid.uuid5(_UUID_NAMESPACE, f"{self.instance_id}/{task_id}").hex

    def create_timer(self, fire_at: datetime | timedelta) -> Task[None]:
        if isinstance(fire_at, timedelta):
            when = self.now + fire_at.total_seconds()
        elif isinstance(fire_at, datetime):
            if fire_at.tzinfo is None:
                fire_at = fire_at.replace(tzinfo=UTC)
            when = fire_at.timestamp()
        else:
            raise TypeError("create_timer takes a datetime or a timedelta")
        return self._timer_at(when)

    def _timer_at(self, when: float) -> CompletableTask[None]:
        task_id = self._next_id()
        task: CompletableTask[None] = CompletableTask()
        self._open[task_id] = task
        self._pending[task_id] = h.StartTimer(task_id, when)
        return task

    def _with_retry(
        self, attempt: Callable[[], CompletableTask[Any]], policy: RetryPolicy
    ) -> Task[Any]:
        outer: CompletableTask[Any] = CompletableTask()
        first_ts = self.now
        attempts = 0

        def start() -> None:
            nonlocal attempts
            attempts += 1
            attempt().add_done_callback(on_done)

        def on_done(task: Task[Any]) -> None:
            if task._exception is None:
                outer._complete(task._result)
                return
            delay = policy.next_delay(attempts, timedelta(seconds=self.now - first_ts))
            if delay is None:
                outer._fail(task._exception)
                return
            self._timer_at(self.now + delay.total_seconds()).add_done_callback(lambda _: start())

        start()
        return outer

    def wait_for_external_event(self, name: str, timeout: timedelta | float | None) -> Task[Any]:
        key = name.lower()
        task: CompletableTask[Any] = CompletableTask()
        buffered = self._event_buffer.get(key)
        if buffered:
            self._deliver(task, buffered.popleft())
            return task
        waiters = self._event_waiters.setdefault(key, deque())
        waiters.append(task)
        if timeout is not None:
            seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout

            def on_timeout(_: Task[Any]) -> None:
                if task.is_complete:
                    return
                waiters.remove(task)
                task._fail(
                    WorkflowTimeoutError(
                        f"external event {name!r} did not arrive within {seconds:g}s"
                    )
                )

            self._timer_at(self.now + seconds).add_done_callback(on_timeout)
        return task

    def continue_as_new(self, new_input: Any, save_events: bool) -> None:
        payload = encode_payload(new_input, self.max_payload_bytes, "the continue-as-new input")
        self._continue_as_new = (payload, save_events)

    def set_custom_status(self, value: Any) -> None:
        self._custom_status = encode_payload(value, self.max_payload_bytes, "the custom status")
        self._custom_status_changed = True

    def is_patched(self, name: str) -> bool:
        answer = self._patch_answers.get(name)
        if answer is None:
            if name in self._recorded_patches:
                answer = True
            elif self.replaying:
                answer = False  # this run went past here before the patch existed
            else:
                answer = True
                self._recorded_patches.add(name)
                self._new_patches.append(name)
            self._patch_answers[name] = answer
        return answer

    def new_uuid(self) -> str:
        self._uuid_counter += 1
        key = f"{self.instance_id}/{self.execution_id}/{self._uuid_counter}"
        return str(uuid.uuid5(_UUID_NAMESPACE, key))


def _record_of(action: h.Action, ts: float) -> h.Event:
    if isinstance(action, h.ScheduleActivity):
        return h.TaskScheduled(ts, action.task_id, action.name, action.input)
    if isinstance(action, h.StartTimer):
        return h.TimerCreated(ts, action.task_id, action.fire_at)
    return h.SubOrchestrationCreated(
        ts, action.task_id, action.name, action.instance_id, action.input
    )


def _record_name(event: h.Event) -> str:
    return getattr(event, "name", "")


def _describe_record(event: h.Event) -> str:
    if isinstance(event, h.TaskScheduled):
        return f"activity {event.name!r}"
    if isinstance(event, h.SubOrchestrationCreated):
        return f"child workflow {event.name!r}"
    if isinstance(event, h.TimerCreated):
        return "a timer"
    return type(event).__name__


_ALWAYS_APPLIED = (h.ExecutionTerminated, h.ExecutionResumed, h.ExecutionSuspended)

_HANDLERS: dict[type[h.Event], Callable[[WorkflowExecutor, Any], None]] = {
    h.ExecutionStarted: WorkflowExecutor._on_started,
    h.TaskScheduled: WorkflowExecutor._on_action_record,
    h.TimerCreated: WorkflowExecutor._on_action_record,
    h.SubOrchestrationCreated: WorkflowExecutor._on_action_record,
    h.TaskCompleted: WorkflowExecutor._on_task_completed,
    h.SubOrchestrationCompleted: WorkflowExecutor._on_task_completed,
    h.TaskFailed: WorkflowExecutor._on_task_failed,
    h.SubOrchestrationFailed: WorkflowExecutor._on_task_failed,
    h.TimerFired: WorkflowExecutor._on_timer_fired,
    h.EventRaised: WorkflowExecutor._on_event_raised,
    h.ExecutionTerminated: WorkflowExecutor._on_terminated,
    h.ExecutionSuspended: WorkflowExecutor._on_suspended,
    h.ExecutionResumed: WorkflowExecutor._on_resumed,
    h.ExecutionCompleted: WorkflowExecutor._on_ignored,
    h.WorkflowPatched: WorkflowExecutor._on_ignored,
    h.ExecutionRerun: WorkflowExecutor._on_ignored,
}
