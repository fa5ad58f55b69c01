"""The contexts user code receives: ``WorkflowContext`` and ``ActivityContext``."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from outlast.core.flow import check_key, check_priority
from outlast.core.logs import ContextLogger, WorkflowLogger, activity_logger
from outlast.core.retry import ActivityTimeouts, RetryPolicy
from outlast.core.serialization import to_json
from outlast.core.task import Task
from outlast.core.times import to_datetime

if TYPE_CHECKING:
    from outlast.core.executor import WorkflowExecutor


class WorkflowContext:
    """What a workflow function gets as ``ctx``. Every method is deterministic: on
    replay it returns the same tasks in the same order, resolved from history."""

    __slots__ = ("_ex", "_logger")

    def __init__(self, executor: WorkflowExecutor) -> None:
        self._ex = executor
        self._logger: WorkflowLogger | None = None

    @property
    def logger(self) -> WorkflowLogger:
        """A logger (``outlast.workflow``) that is silent while the code replays, so
        each line appears once however often the workflow is replayed; records
        carry ``instance_id`` and ``workflow_name`` as extra fields."""
        if self._logger is None:
            ex = self._ex
            fields = {"instance_id": ex.instance_id, "workflow_name": ex.name}
            self._logger = WorkflowLogger(fields, lambda: ex.replaying)
        return self._logger

    @property
    def instance_id(self) -> str:
        return self._ex.instance_id

    @property
    def workflow_name(self) -> str:
        return self._ex.name

    @property
    def version(self) -> str | None:
        """The registered version this instance runs (None for unversioned workflows)."""
        return self._ex.version

    @property
    def current_utc_datetime(self) -> datetime:
        """The time of the turn being run, read from history (never the wall clock)."""
        return to_datetime(self._ex.now)

    @property
    def is_replaying(self) -> bool:
        """True while the code re-runs past steps from history; guard side effects
        such as logging with ``if not ctx.is_replaying``."""
        return self._ex.replaying

    def call_activity(
        self,
        activity: Callable[..., Any] | str,
        *,
        input: Any = None,
        retry_policy: RetryPolicy | None = None,
        start_to_close_timeout: timedelta | None = None,
        schedule_to_close_timeout: timedelta | None = None,
        heartbeat_timeout: timedelta | None = None,
        key: str | None = None,
        priority: int = 0,
    ) -> Task[Any]:
        """Run the activity ``activity`` with ``input``; a task to ``yield``.

        ``start_to_close_timeout`` bounds each attempt, ``schedule_to_close_timeout``
        the whole call with its retries, ``heartbeat_timeout`` the gap between two
        ``ActivityContext.heartbeat()`` calls. The timeouts are durable timers in
        history; a timed-out attempt goes through ``retry_policy`` like a failure,
        and once attempts run out the ``yield`` raises ``ActivityTimeoutError``.

        ``key`` and ``priority`` (0..9, higher first) matter to an activity under a
        ``runtime.limit``: its ``per_key`` cap counts calls by key, and among calls
        waiting for the limit, higher priorities start first (docs/flow-control.md).
        """
        flow = None
        if key is not None or priority:
            flow = (check_key(key), check_priority(priority))
        timeouts = None
        if (
            start_to_close_timeout is not None
            or schedule_to_close_timeout is not None
            or heartbeat_timeout is not None
        ):
            timeouts = ActivityTimeouts(
                start_to_close_timeout, schedule_to_close_timeout, heartbeat_timeout
            )
        return self._ex.call_activity(activity, input, retry_policy, timeouts, flow)

    def call_child_workflow(
        self,
        workflow: Callable[..., Any] | str,
        *,
        input: Any = None,
        instance_id: str | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> Task[Any]:
        return self._ex.call_child_workflow(workflow, input, instance_id, retry_policy)

    def create_timer(self, fire_at: datetime | timedelta, *, name: str | None = None) -> Task[None]:
        """A task that completes at ``fire_at`` (a time, or a delay from now); durable,
        so a 30-day timer survives restarts. ``name`` labels it in history."""
        return self._ex.create_timer(fire_at, name)

    def wait_for_external_event(
        self, name: str, *, timeout: timedelta | float | None = None
    ) -> Task[Any]:
        return self._ex.wait_for_external_event(name, timeout)

    def send_event(self, instance_id: str, name: str, *, data: Any = None) -> None:
        """Raise the external event ``name`` to another instance (recorded in this
        one's history as EventSent; delivered once this turn commits)."""
        self._ex.send_event(instance_id, name, data)

    @property
    def scheduled_time(self) -> datetime | None:
        """The tick of the schedule that started this run, or None."""
        ns = self._ex.scheduled_time
        return None if ns is None else to_datetime(ns)

    def continue_as_new(self, new_input: Any = None, *, save_events: bool = False) -> None:
        self._ex.continue_as_new(new_input, save_events)

    def set_custom_status(self, value: Any) -> None:
        self._ex.set_custom_status(value)

    def new_uuid(self) -> str:
        return self._ex.new_uuid()

    def is_patched(self, name: str) -> bool:
        """True for runs that reach this point with the patched code (new runs, and
        runs that recorded the patch); False for runs that went past this point
        before the patch existed. The answer is recorded in history::

            if ctx.is_patched("send-receipt"):
                yield ctx.call_activity(send_receipt, input=order)
        """
        return self._ex.is_patched(name)


class ActivityContext:
    """What an activity function gets as ``ctx``.

    ``attempt`` counts from 1 across retries and restarts (a worker that died while
    running the activity counts as an attempt). ``heartbeat_details``: what the
    previous attempt last passed to ``heartbeat()``, or None."""

    __slots__ = (
        "_cancelled",
        "_details",
        "_last_beat",
        "_logger",
        "attempt",
        "heartbeat_details",
        "name",
        "task_id",
        "workflow_id",
    )

    def __init__(
        self,
        workflow_id: str,
        task_id: int,
        name: str = "",
        attempt: int = 1,
        heartbeat_details: Any = None,
    ) -> None:
        self.workflow_id = workflow_id
        self.task_id = task_id
        self.name = name
        self.attempt = attempt
        self.heartbeat_details = heartbeat_details
        self._last_beat = time.monotonic()
        self._details: str | None = None
        self._cancelled = False
        self._logger: ContextLogger | None = None

    @property
    def logger(self) -> ContextLogger:
        """A logger (``outlast.activity``) whose records carry ``instance_id``,
        ``activity_name``, ``task_id`` and ``attempt`` as extra fields."""
        if self._logger is None:
            self._logger = activity_logger(
                {
                    "instance_id": self.workflow_id,
                    "activity_name": self.name,
                    "task_id": self.task_id,
                    "attempt": self.attempt,
                }
            )
        return self._logger

    @property
    def orchestration_id(self) -> str:
        return self.workflow_id

    @property
    def is_cancelled(self) -> bool:
        """True once this attempt timed out (or missed its heartbeat): stop work and
        return. Async activities are cancelled as well; Python cannot stop a thread,
        so a sync activity must look at this (or run with ``isolation="process"``)."""
        return self._cancelled

    def heartbeat(self, details: Any = None) -> None:
        """Say the activity is alive (resetting its ``heartbeat_timeout``); ``details``
        (any JSON value) is what the next attempt reads as ``heartbeat_details``
        if this one fails. Cheap: call it as often as progress is made."""
        if details is not None:
            self._details = to_json(details)
        self._last_beat = time.monotonic()

    def _cancel(self) -> None:
        self._cancelled = True
