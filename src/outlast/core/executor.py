"""The in-process executor: one workflow generator, driven by history.

``replay`` feeds a :class:`WorkflowExecutor` stored history (matching every
recorded action against what the code asks for); ``run_turn`` feeds it a turn's new
events and returns the :class:`~outlast.core.turn.Turn` the code answered: its
actions, custom status, version and patches. ``core.turn.build_turn`` turns that
into history records, whoever ran the code. The runtime keeps executors between
turns (the sticky cache), so a new event costs O(1), not a replay. What each kind
of event does is ``handlers.py``. No I/O, no clock, no threads here.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Generator, Iterable
from typing import Any

from outlast.core import history as h
from outlast.core.context import WorkflowContext
from outlast.core.handlers import HANDLERS, Completion, EventHandlers
from outlast.core.logs import warn_forgotten
from outlast.core.registry import Registry
from outlast.core.serialization import encode_payload
from outlast.core.status import WorkflowStatus
from outlast.core.task import CompletableTask, Task
from outlast.core.turn import Turn, describe_record
from outlast.errors import (
    FailureDetails,
    NonDeterminismError,
    OutlastError,
)


class WorkflowExecutor(EventHandlers):
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
        self.depth = 0
        self.scheduled_time: int | None = None
        self.trace_context: str | None = None  # who started this run (W3C traceparent)
        self.version: str | None = None
        self.registry = registry
        self.now = 0
        self.replaying = False
        self.completion: Completion | None = None
        self.suspended = False
        # Runs that began with a turn marker record timer origins and event waits;
        # older histories did not, and replaying them must produce what they hold.
        self.records_origins = False
        self._seen_first = False
        self._ctx = WorkflowContext(self)
        self._gen: Generator[Any, Any, Any] | None = None
        self._waiting: Task[Any] | None = None
        self._sequence = 0
        self._uuid_counter = 0
        self._open: dict[int, CompletableTask[Any]] = {}
        # Task IDs with a record and no outcome yet: an outcome for any other is a
        # duplicate (a result delivered twice) and is dropped, never recorded.
        self._awaiting: set[int] = set()
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
        for e in history:
            if isinstance(e, h.WorkflowPatched):
                self._recorded_patches.add(e.name)
            elif isinstance(e, h.OrchestratorStarted) and e.patches:
                self._recorded_patches.update(e.patches)
        self.replaying = True
        try:
            for event in history:
                self._apply(event)
        finally:
            self.replaying = False
        if self.completion is not None:
            self._completion_reported = True
        self._custom_status_changed = False

    def run_turn(self, events: Iterable[h.Event]) -> tuple[Turn, list[h.Event]]:
        """Apply a turn's new events (stamped with the turn's time, its marker
        first); return what the code answered and the events to record (duplicates
        of outcomes already recorded are dropped)."""
        applied: list[h.Event] = []
        for event in events:
            kind = type(event)
            if kind is h.OrchestratorStarted and self._seen_first:
                self.now = event.ts  # a marker only moves the clock
                applied.append(event)
                continue
            if kind in h.OUTCOMES:
                task_id: int = event.task_id  # type: ignore[attr-defined]
                if task_id not in self._awaiting:
                    continue
                self._awaiting.discard(task_id)
            applied.append(event)
            self._apply(event)
        # Work scheduled during replay that history never recorded is new, too.
        actions: list[h.Action] = list(self._pending.values())
        self._pending.clear()
        patches = tuple(self._new_patches)
        self._new_patches.clear()
        completion = None
        if self.completion is not None and not self._completion_reported:
            self._completion_reported = True
            completion = self.completion
            actions.append(
                h.CompleteWorkflow(
                    completion.status.value,
                    completion.new_input
                    if completion.status is WorkflowStatus.CONTINUED_AS_NEW
                    else completion.result,
                    completion.failure,
                    tuple(completion.carryover),
                    terminate_children=tuple(completion.terminate_children),
                )
            )
        changed = self._custom_status_changed
        self._custom_status_changed = False
        turn = Turn(
            actions=actions,
            custom_status=self._custom_status,
            custom_status_set=changed,
            version=self.version,
            patches=patches,
            suspended=self.suspended and completion is None,
        )
        return turn, applied

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
        if not self._seen_first:
            self._seen_first = True
            self.records_origins = isinstance(event, h.OrchestratorStarted)
        if self.replaying and type(event) in h.OUTCOMES:
            task_id: int = event.task_id  # type: ignore[attr-defined]
            if task_id not in self._awaiting:
                return  # a duplicate an older release could record: ignored
            self._awaiting.discard(task_id)
        if self.completion is not None:
            if self.replaying and event.is_action_record:
                failure = self.completion.failure
                how = (
                    f" ({failure.error_type}: {failure.message})"
                    if failure is not None
                    else f" ({self.completion.status.value})"
                )
                raise NonDeterminismError(
                    f"step {getattr(event, 'task_id', '?')}: history records "
                    f"{describe_record(event)} after the workflow code had already "
                    f"finished{how}"
                )
            if self.completion.status is WorkflowStatus.CONTINUED_AS_NEW:
                self._carry_over(event)
            return
        if self.suspended and not event.is_action_record and not isinstance(event, _ALWAYS_APPLIED):
            self._suspended_events.append(event)
            return
        HANDLERS[type(event)](self, event)
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
        except NonDeterminismError:
            raise
        except BaseException as e:
            # Workflow code that raises anything at all (SystemExit and
            # KeyboardInterrupt included) fails its own instance, never the worker.
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
        yielded._awaited = True
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
        if not self.replaying:  # tasks made, never yielded nor combined: a forgotten yield
            open_ = self._open.items()
            lost = [i for i, t in open_ if not (t._is_complete or t._awaited or t._callbacks)]
            if lost:
                warn_forgotten(self.name, self.instance_id, lost)

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

    def with_version(self, event: h.ExecutionStarted) -> h.ExecutionStarted:
        """``event`` stamped with the version this run chose."""
        if event.version == self.version:
            return event
        return dataclasses.replace(event, version=self.version)


_ALWAYS_APPLIED = (h.ExecutionTerminated, h.ExecutionResumed, h.ExecutionSuspended)
# The handler table under its old name here (tests check it covers every event kind).
_HANDLERS = HANDLERS
