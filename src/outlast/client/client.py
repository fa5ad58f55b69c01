"""``WorkflowClient``: start, inspect, signal and manage workflow instances.

A client needs only the store: it works from the process that runs the runtime or
from any other process pointed at the same store.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, overload

from outlast.client import catalog
from outlast.client.bulk import BulkOperations
from outlast.client.instance_id import InstanceID, output_type_of
from outlast.client.schedules import ScheduleClient
from outlast.client.state import PendingActivity, WorkflowState, state_of
from outlast.client.waits import FINISHED, STARTED, check_timeout, poll_seconds, wait_timeout
from outlast.clock import SYSTEM_CLOCK, Clock, now_ns
from outlast.core import history as h
from outlast.core import rerun
from outlast.core.codec import decode_event, describe, encode_event
from outlast.core.flow import check_key, check_priority
from outlast.core.ids import validate_instance_id
from outlast.core.registry import name_of
from outlast.core.serialization import (
    default_max_payload_bytes,
    encode_payload,
    workflow_output_hint,
)
from outlast.core.status import WorkflowStatus
from outlast.core.times import from_datetime, from_seconds, to_datetime, to_seconds
from outlast.errors import (
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    InvalidStateError,
    UnknownWorkflowError,
)
from outlast.store import Store, open_store
from outlast.store.base import (
    ActivityRecord,
    InstanceRecord,
    Message,
    pending_record,
)
from outlast.tracing import current_traceparent

_UNSET: Any = object()
# What a start does when an unfinished instance has the ID.
IfExists = Literal["error", "return_existing", "terminate_and_restart"]
_IF_EXISTS = frozenset(("error", "return_existing", "terminate_and_restart"))
R = TypeVar("R")
InT = TypeVar("InT")
# History fields that hold times (nanoseconds): shown as ISO 8601 / RFC 3339 text.
_TIME_FIELDS = ("fire_at", "scheduled_start", "scheduled_time")


class WorkflowClient(BulkOperations, ScheduleClient):
    """Start, inspect, signal and manage workflow instances; and schedules
    (``create_schedule`` and the rest, from ``ScheduleClient``)."""

    def __init__(
        self,
        store: str | Store | None = None,
        *,
        clock: Clock | None = None,
        max_payload_bytes: int | None = None,
    ) -> None:
        self._store = open_store(store)
        self._clock = clock or SYSTEM_CLOCK
        self._max_payload = max_payload_bytes or default_max_payload_bytes()

    @property
    def store(self) -> Store:
        return self._store

    # --- starting ------------------------------------------------------------------

    @overload
    def schedule_new_workflow(
        self,
        workflow: Callable[[Any, InT], Generator[Any, Any, R]],
        *,
        input: InT,
        instance_id: str | None = None,
        start_at: datetime | None = None,
        if_exists: IfExists = "error",
        key: str | None = None,
        priority: int = 0,
    ) -> InstanceID[R]: ...
    @overload
    def schedule_new_workflow(
        self,
        workflow: Callable[[Any], Generator[Any, Any, R]],
        *,
        input: None = None,
        instance_id: str | None = None,
        start_at: datetime | None = None,
        if_exists: IfExists = "error",
        key: str | None = None,
        priority: int = 0,
    ) -> InstanceID[R]: ...
    @overload
    def schedule_new_workflow(
        self,
        workflow: str,
        *,
        input: Any = None,
        instance_id: str | None = None,
        start_at: datetime | None = None,
        if_exists: IfExists = "error",
        key: str | None = None,
        priority: int = 0,
    ) -> InstanceID[Any]: ...
    def schedule_new_workflow(
        self,
        workflow: Callable[..., Any] | str,
        *,
        input: Any = None,
        instance_id: str | None = None,
        start_at: datetime | None = None,
        if_exists: IfExists = "error",
        key: str | None = None,
        priority: int = 0,
    ) -> InstanceID[Any]:
        """Start a workflow instance; return its ID. A finished instance with the
        ID is replaced; an unfinished one, by ``if_exists``: ``"error"`` (the
        default) raises InstanceAlreadyExistsError, ``"return_existing"`` returns
        the ID and starts nothing, ``"terminate_and_restart"`` terminates it, waits
        for that (up to 30 s) and starts afresh.

        ``key`` and ``priority`` (0..9) matter to a workflow under a
        ``runtime.limit``: its ``per_key`` cap counts starts by key, and among
        starts waiting for the limit, higher priorities go first.

        Type checkers see the input checked against the workflow's input
        parameter, and the returned :class:`InstanceID` carries its output type
        to ``wait_for_workflow_completion``."""
        name = name_of(workflow)
        if catalog.rejects(self._store, name):
            raise UnknownWorkflowError(
                f"no workflow named {name!r} is registered on the runtime in this process"
            )
        iid = uuid.uuid4().hex if instance_id is None else validate_instance_id(instance_id)
        payload = encode_payload(input, self._max_payload, "the workflow input")
        stamp = now_ns(self._clock)
        now = to_seconds(stamp)
        visible_at = now
        if start_at is not None:
            if start_at.tzinfo is None:
                start_at = start_at.replace(tzinfo=UTC)
            visible_at = start_at.timestamp()
        execution_id = uuid.uuid4().hex
        record = pending_record(iid, name, execution_id, now, payload)
        started = h.ExecutionStarted(
            stamp,
            name,
            payload,
            scheduled_start=None if start_at is None else from_datetime(start_at),
            trace_context=current_traceparent(),
            key=check_key(key),
            priority=check_priority(priority),
        )
        if if_exists not in _IF_EXISTS:
            raise ValueError(f"if_exists must be one of {sorted(_IF_EXISTS)}, not {if_exists!r}")
        message = Message(iid, execution_id, encode_event(started), visible_at)
        try:
            self._store.create_instance(record, message)
        except InstanceAlreadyExistsError:
            if if_exists == "error":
                raise
            if if_exists == "terminate_and_restart":
                self._terminate_for_restart(iid)
                self._store.create_instance(record, message)
        output_type = None if isinstance(workflow, str) else workflow_output_hint(workflow)
        return InstanceID(iid, output_type)

    def _terminate_for_restart(self, instance_id: str) -> None:
        with contextlib.suppress(InvalidStateError, InstanceNotFoundError):
            self.terminate_workflow(instance_id)  # it may finish meanwhile
        self.wait_for_workflow_completion(instance_id, timeout_in_seconds=30)

    # --- reading -------------------------------------------------------------------

    @overload
    def get_workflow_state(
        self, instance_id: InstanceID[R], *, fetch_payloads: bool = True
    ) -> WorkflowState[R] | None: ...
    @overload
    def get_workflow_state(
        self, instance_id: str, *, fetch_payloads: bool = True
    ) -> WorkflowState | None: ...
    def get_workflow_state(
        self, instance_id: str, *, fetch_payloads: bool = True
    ) -> WorkflowState | None:
        """The instance's state, or None if there is no such instance."""
        record = self._store.get_instance(instance_id)
        if record is None:
            return None
        return state_of(
            record, fetch_payloads=fetch_payloads, output_type=output_type_of(instance_id)
        )

    @overload
    def wait_for_workflow_start(
        self,
        instance_id: InstanceID[R],
        *,
        timeout_in_seconds: float = 60,
        fetch_payloads: bool = False,
    ) -> WorkflowState[R] | None: ...
    @overload
    def wait_for_workflow_start(
        self, instance_id: str, *, timeout_in_seconds: float = 60, fetch_payloads: bool = False
    ) -> WorkflowState | None: ...
    def wait_for_workflow_start(
        self, instance_id: str, *, timeout_in_seconds: float = 60, fetch_payloads: bool = False
    ) -> WorkflowState | None:
        """Wait until the instance has left PENDING; None if it does not exist."""
        return self._wait(instance_id, STARTED, timeout_in_seconds, fetch_payloads)

    @overload
    def wait_for_workflow_completion(
        self,
        instance_id: InstanceID[R],
        *,
        timeout_in_seconds: float = 60,
        fetch_payloads: bool = True,
    ) -> WorkflowState[R] | None: ...
    @overload
    def wait_for_workflow_completion(
        self, instance_id: str, *, timeout_in_seconds: float = 60, fetch_payloads: bool = True
    ) -> WorkflowState | None: ...
    def wait_for_workflow_completion(
        self, instance_id: str, *, timeout_in_seconds: float = 60, fetch_payloads: bool = True
    ) -> WorkflowState | None:
        """Wait until the instance finished (COMPLETED, FAILED or TERMINATED); None if
        it does not exist. Raises outlast's TimeoutError when the wait elapses."""
        return self._wait(instance_id, FINISHED, timeout_in_seconds, fetch_payloads)

    def _wait(
        self, instance_id: str, until: frozenset[str], timeout: float, fetch_payloads: bool
    ) -> WorkflowState | None:
        """Wait until the instance is in one of ``until``; commits leaving it in
        another status (most of them) do not wake us."""
        check_timeout(timeout)
        deadline = time.monotonic() + timeout
        poll = poll_seconds(self._store)
        with self._store.watch(instance_id, until) as changed:
            while True:
                changed.clear()
                state = self.get_workflow_state(instance_id, fetch_payloads=fetch_payloads)
                if state is None or state.runtime_status.value in until:
                    return state
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise wait_timeout(state, timeout)
                changed.wait(min(remaining, poll))

    # --- signalling ----------------------------------------------------------------

    def _require(self, instance_id: str) -> InstanceRecord:
        record = self._store.get_instance(instance_id)
        if record is None:
            raise InstanceNotFoundError(f"no workflow instance with ID {instance_id!r}")
        return record

    def _require_active(self, instance_id: str, action: str) -> InstanceRecord:
        record = self._require(instance_id)
        if WorkflowStatus(record.status).is_terminal:
            raise InvalidStateError(
                f"cannot {action} workflow instance {instance_id!r}: it is already {record.status}"
            )
        return record

    def _send(self, instance_id: str, event: h.Event) -> None:
        now = self._clock.now()
        self._store.send_messages([Message(instance_id, None, encode_event(event), now)])

    def _stamp(self) -> int:
        return now_ns(self._clock)

    def raise_workflow_event(self, instance_id: str, event_name: str, *, data: Any = None) -> None:
        """Deliver an external event; it is kept until the workflow waits for it."""
        if not event_name:
            raise ValueError("event_name must not be empty")
        payload = encode_payload(data, self._max_payload, "the data of event {}", event_name)
        self._require_active(instance_id, "raise an event to")
        self._send(instance_id, h.EventRaised(self._stamp(), event_name, payload))

    def terminate_workflow(
        self, instance_id: str, *, output: Any = None, recursive: bool = True
    ) -> None:
        payload = encode_payload(output, self._max_payload, "the termination output")
        record = self._require_active(instance_id, "terminate")
        now = self._clock.now()
        self._send(instance_id, h.ExecutionTerminated(self._stamp(), payload, recursive))
        if record.status == WorkflowStatus.STALLED.value:
            # A stalled instance takes no messages until revived (revived only after
            # the message is in, so the worker sees it in the same fetch); the
            # worker then terminates it without running the code that stalled.
            self._store.set_status_if(instance_id, record.status, "RUNNING", now)

    def pause_workflow(self, instance_id: str, *, reason: str | None = None) -> None:
        self._require_active(instance_id, "suspend")
        self._send(instance_id, h.ExecutionSuspended(self._stamp(), reason))

    def resume_workflow(self, instance_id: str, *, reason: str | None = None) -> None:
        record = self._require_active(instance_id, "resume")
        now = self._clock.now()
        if record.status == WorkflowStatus.STALLED.value:
            self._store.set_status_if(instance_id, record.status, "RUNNING", now)
            return
        self._send(instance_id, h.ExecutionResumed(self._stamp(), reason))

    suspend_workflow = pause_workflow

    def rerun_workflow_from_event(
        self,
        instance_id: str,
        event_id: int,
        *,
        new_instance_id: str | None = None,
        new_input: Any = _UNSET,
    ) -> str:
        """Start a new instance that replays ``instance_id``'s history up to its event
        ``event_id`` (the index in ``get_workflow_history`` of an activity's
        TaskScheduled event) and runs again from there: that activity, and any
        scheduled before it whose results came later, run again. ``new_input``
        replaces the workflow's input. Returns the new instance's ID."""
        source = self._require(instance_id)
        if not WorkflowStatus(source.status).is_terminal:
            raise InvalidStateError(
                f"workflow instance {instance_id!r} is {source.status}; only a finished "
                "instance can be rerun"
            )
        events = [decode_event(t) for t in self._store.get_history(instance_id)]
        payload = (
            _UNSET
            if new_input is _UNSET
            else encode_payload(new_input, self._max_payload, "the new input")
        )
        plan = rerun.plan(instance_id, events, event_id, payload)
        iid = uuid.uuid4().hex if new_instance_id is None else validate_instance_id(new_instance_id)
        execution_id = uuid.uuid4().hex
        activities = [
            ActivityRecord(iid, execution_id, e.task_id, e.name, e.input) for e in plan.unfinished
        ]
        now = self._clock.now()
        record = pending_record(iid, source.name, execution_id, now, plan.input)
        wake = h.ExecutionRerun(from_seconds(now), instance_id, event_id)
        self._store.create_instance(
            record,
            Message(iid, execution_id, encode_event(wake), now),
            history=[encode_event(e) for e in plan.history],
            activities=activities,
        )
        return iid

    # --- history -------------------------------------------------------------------

    def get_workflow_history(self, instance_id: str) -> list[dict[str, Any]]:
        """The instance's history events as readable dicts (kind, fields), times
        as RFC 3339 text (``timestamp``, a timer's ``fire_at``)."""
        self._require(instance_id)
        out = []
        for text in self._store.get_history(instance_id):
            data = describe(decode_event(text))
            for key in _TIME_FIELDS:
                if isinstance(data.get(key), int):
                    data[key] = to_datetime(data[key]).isoformat()
            out.append(data)
        return out

    def get_pending_activities(self, instance_id: str) -> list[PendingActivity]:
        """The instance's activities that were scheduled and have not finished, with
        the worker running each."""
        self._require(instance_id)
        pending = []
        for a in self._store.pending_activities(instance_id):
            name = a.name
            if a.task_id < 0:
                # A limited workflow's slot (docs/flow-control.md): shown while its
                # start waits in line, as the workflow's own name.
                if not a.waiting_on_limit:
                    continue
                name = name.removeprefix("workflow:")
            pending.append(
                PendingActivity(
                    a.task_id, name, a.owner, a.input, a.waiting_on_limit, a.key, a.priority
                )
            )
        return pending
