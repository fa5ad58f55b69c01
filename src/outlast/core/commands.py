"""What ``WorkflowContext`` asks the executor for: the commands of workflow code.

Each command creates a task and, for work the engine must do, a pending action
under the next task ID. On replay the same calls produce the same actions, which
are then matched against the records in history (``executor.py``).
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from outlast.core import history as h
from outlast.core.ids import child_instance_id, deterministic_uuid, validate_instance_id
from outlast.core.registry import Registry, name_of
from outlast.core.retry import ActivityTimeouts, RetryPolicy
from outlast.core.serialization import encode_payload, from_json
from outlast.core.task import CompletableTask, Task
from outlast.core.times import NEVER, Nanos, from_datetime, from_timedelta
from outlast.errors import (
    ActivityTimeoutError,
    FailureDetails,
    OutlastError,
    WorkflowTimeoutError,
)

# What a call with timeouts but no retry policy runs under: one attempt.
_ONCE = RetryPolicy(timedelta(0), 1)
_NO_TIMEOUTS = ActivityTimeouts()


def _caller_source() -> str:
    """``file:line`` of the workflow code that called the context: the frame above
    ``WorkflowContext``'s method and this mixin's."""
    frame = sys._getframe(3)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


class Commands:
    """Mixed into ``WorkflowExecutor``, which sets this state."""

    instance_id: str
    execution_id: str
    registry: Registry
    max_payload_bytes: int | None
    now: Nanos
    replaying: bool
    records_origins: bool
    _sequence: int
    _uuid_counter: int
    _open: dict[int, CompletableTask[Any]]
    _awaiting: set[int]
    _open_children: dict[int, str]
    _pending: dict[int, h.Action]
    _event_waiters: dict[str, deque[CompletableTask[Any]]]
    _event_buffer: dict[str, deque[h.EventRaised]]
    _continue_as_new: tuple[str | None, bool] | None
    _custom_status: str | None
    _custom_status_changed: bool
    _recorded_patches: set[str]
    _patch_answers: dict[str, bool]
    _new_patches: list[str]

    @staticmethod
    def _deliver(task: CompletableTask[Any], event: h.EventRaised) -> None:
        try:
            value = from_json(event.input, task.hint)
        except OutlastError as e:
            task._fail(e)
            return
        task._complete(value)

    def _next_id(self) -> int:
        task_id = self._sequence
        self._sequence += 1
        return task_id

    def _open_task(self, task_id: int, hint: Any = None) -> CompletableTask[Any]:
        task: CompletableTask[Any] = CompletableTask(hint)
        self._open[task_id] = task
        self._awaiting.add(task_id)
        return task

    def call_activity(
        self,
        activity: Callable[..., Any] | str,
        input: Any,
        retry: RetryPolicy | None,
        timeouts: ActivityTimeouts | None = None,
        flow: tuple[str | None, int] | None = None,
    ) -> Task[Any]:
        name = name_of(activity)
        definition = self.registry.activities.get(name)
        hint = definition.result_hint if definition is not None else None
        payload = encode_payload(input, self.max_payload_bytes, "the input of activity {}", name)
        caller = sys._getframe(2)  # (_caller_source, inlined)
        source = f"{caller.f_code.co_filename}:{caller.f_lineno}"
        # The attempts of a retried call share one task execution ID: its first
        # attempt's task ID (a call without retries needs none).
        execution_id = None if retry is None else str(self._sequence)

        def attempt(number: int = 1, details: str | None = None) -> CompletableTask[Any]:
            # (_next_id and _open_task, inlined: this runs on every step)
            task_id = self._sequence
            self._sequence = task_id + 1
            task: CompletableTask[Any] = CompletableTask(hint)
            self._open[task_id] = task
            self._awaiting.add(task_id)
            if timeouts is None and details is None and flow is None:
                self._pending[task_id] = h.ScheduleActivity(
                    task_id, name, payload, None, execution_id, None, source, number
                )
                return task
            key, priority = (None, 0) if flow is None else flow
            options = _NO_TIMEOUTS if timeouts is None else timeouts
            self._pending[task_id] = h.ScheduleActivity(
                task_id,
                name,
                payload,
                None,
                execution_id,
                None,
                source,
                number,
                options.options(details),  # a retry after heartbeats carries their details
                key,
                priority,
            )
            if options.start_to_close is not None:
                self._time_out(task_id, task, options.start_to_close, "start_to_close", number)
            return task

        if retry is None and (timeouts is None or timeouts.schedule_to_close is None):
            return attempt()
        if retry is None:
            retry = _ONCE
        outer = self._with_retry(attempt, retry, h.ORIGIN_ACTIVITY_RETRY, str(execution_id))
        if timeouts is not None and timeouts.schedule_to_close is not None:
            self._time_out(None, outer, timeouts.schedule_to_close, "schedule_to_close", None)
        return outer

    def _time_out(
        self,
        task_id: int | None,
        task: CompletableTask[Any],
        delta: timedelta,
        which: str,
        number: int | None,
    ) -> None:
        """A durable timer that fails ``task`` (an attempt, or with ``task_id`` None
        the whole call) with ActivityTimeoutError unless it completes first. The
        attempt's late result then finds no open task and is dropped."""
        when = self.now + from_timedelta(delta)
        label = "call" if task_id is None else str(task_id)
        timer = self._timer_at(when, origin=h.ORIGIN_ACTIVITY_TIMEOUT, origin_name=label)

        def fire(_: Task[Any]) -> None:
            if task.is_complete:
                return
            if task_id is not None:
                self._open.pop(task_id, None)
            seconds = delta.total_seconds()
            message = f"the activity ran longer than its {which}_timeout ({seconds:g}s)"
            failure = FailureDetails("ActivityTimeoutError", message, attempt=number)
            task._fail(ActivityTimeoutError(message, failure))

        timer.add_done_callback(fire)

    def call_child_workflow(
        self,
        workflow: Callable[..., Any] | str,
        input: Any,
        instance_id: str | None,
        retry: RetryPolicy | None,
    ) -> Task[Any]:
        name = name_of(workflow)
        if instance_id is not None:
            validate_instance_id(instance_id)
        definition = self.registry.workflows.get(name)
        hint = definition.result_hint if definition is not None else None
        payload = encode_payload(
            input, self.max_payload_bytes, "the input of child workflow {}", name
        )
        source = _caller_source()
        first_id = instance_id or child_instance_id(self.instance_id, self._sequence)

        def attempt(number: int = 1, details: str | None = None) -> CompletableTask[Any]:
            task_id = self._next_id()
            child_id = instance_id or child_instance_id(self.instance_id, task_id)
            task = self._open_task(task_id, hint)
            self._open_children[task_id] = child_id
            self._pending[task_id] = h.StartChildWorkflow(
                task_id, name, child_id, payload, source=source
            )
            return task

        if retry is None:
            return attempt()
        return self._with_retry(attempt, retry, h.ORIGIN_CHILD_RETRY, first_id)

    def create_timer(self, fire_at: datetime | timedelta, name: str | None = None) -> Task[None]:
        if isinstance(fire_at, timedelta):
            when = self.now + from_timedelta(fire_at)
        elif isinstance(fire_at, datetime):
            when = from_datetime(fire_at)
        else:
            raise TypeError("create_timer takes a datetime or a timedelta")
        return self._timer_at(when, name=name, origin=h.ORIGIN_TIMER, source=_caller_source())

    def _timer_at(
        self,
        when: Nanos,
        *,
        name: str | None = None,
        origin: str | None = None,
        origin_name: str | None = None,
        source: str | None = None,
    ) -> CompletableTask[None]:
        task_id = self._next_id()
        task: CompletableTask[None] = self._open_task(task_id)
        if origin is not None and origin != h.ORIGIN_TIMER:
            task._awaited = True  # the engine's own timer: no code yields it
        if not self.records_origins:
            origin = origin_name = None  # a run that began before timers had origins
        self._pending[task_id] = h.StartTimer(task_id, when, name, origin, origin_name, source)
        return task

    def _with_retry(
        self,
        attempt: Callable[[int, str | None], CompletableTask[Any]],
        policy: RetryPolicy,
        origin: str,
        origin_name: str,
    ) -> CompletableTask[Any]:
        outer: CompletableTask[Any] = CompletableTask()
        first_ts = self.now
        attempts = 0
        number = 1  # the attempt the activity sees (restarts count too)
        details: str | None = None

        def start() -> None:
            nonlocal attempts
            attempts += 1
            attempt(number, details).add_done_callback(on_done)

        def on_done(task: Task[Any]) -> None:
            nonlocal number, details
            if outer.is_complete:
                return  # the call as a whole timed out
            if task._exception is None:
                outer._complete(task._result)
                return
            elapsed = timedelta(microseconds=(self.now - first_ts) // 1000)
            delay = policy.next_delay(attempts, elapsed, task._exception)
            if delay is None:
                outer._fail(task._exception)
                return
            failure = getattr(task._exception, "details", None)
            failed_at = getattr(failure, "attempt", None)
            number = max(number, failed_at if isinstance(failed_at, int) else number) + 1
            details = getattr(failure, "heartbeat_details", None)
            when = self.now + from_timedelta(delay)
            retry_timer = self._timer_at(when, origin=origin, origin_name=origin_name)
            retry_timer.add_done_callback(lambda _: None if outer.is_complete else start())

        start()
        return outer

    def wait_for_external_event(self, name: str, timeout: timedelta | float | None) -> Task[Any]:
        key = name.casefold()
        task: CompletableTask[Any] = CompletableTask()
        buffered = self._event_buffer.get(key)
        if buffered:
            self._deliver(task, buffered.popleft())
            return task
        waiters = self._event_waiters.setdefault(key, deque())
        waiters.append(task)
        source = _caller_source()
        if timeout is None:
            if self.records_origins:
                # Recorded so that what the instance waits for shows in its history;
                # it never fires (as the Dapr SDKs do it).
                self._timer_at(NEVER, origin=h.ORIGIN_EVENT, origin_name=name, source=source)
            return task
        delta = timeout if isinstance(timeout, timedelta) else timedelta(seconds=timeout)

        def on_timeout(_: Task[Any]) -> None:
            if task.is_complete:
                return
            waiters.remove(task)
            task._fail(
                WorkflowTimeoutError(
                    f"external event {name!r} did not arrive within {delta.total_seconds():g}s"
                )
            )

        when = self.now + from_timedelta(delta)
        timer = self._timer_at(when, origin=h.ORIGIN_EVENT, origin_name=name, source=source)
        timer.add_done_callback(on_timeout)
        return task

    def send_event(self, instance_id: str, name: str, data: Any) -> None:
        validate_instance_id(instance_id)
        if not name:
            raise ValueError("an event needs a name")
        payload = encode_payload(data, self.max_payload_bytes, "the data of event {}", name)
        task_id = self._next_id()
        self._pending[task_id] = h.SendEvent(
            task_id, instance_id, name, payload, source=_caller_source()
        )

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
        return deterministic_uuid(self.instance_id, self.execution_id, self._uuid_counter)
