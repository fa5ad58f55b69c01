"""``WorkflowClient``: start, inspect, signal and manage workflow instances.

A client needs only the store: it works from the process that runs the runtime or
from any other process pointed at the same store.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from outlast.client import catalog, paging
from outlast.client.state import PendingActivity, WorkflowState, state_of
from outlast.clock import SYSTEM_CLOCK, Clock, now_ns
from outlast.core import history as h
from outlast.core import rerun
from outlast.core.codec import decode_event, describe, encode_event
from outlast.core.ids import validate_instance_id
from outlast.core.registry import name_of
from outlast.core.serialization import default_max_payload_bytes, encode_payload
from outlast.core.status import TERMINAL_STATUSES, WorkflowStatus
from outlast.core.times import from_datetime, from_seconds, to_seconds
from outlast.errors import (
    InstanceNotFoundError,
    InvalidStateError,
    TimeoutError,
    UnknownWorkflowError,
)
from outlast.store import Store, open_store
from outlast.store.base import (
    ActivityRecord,
    InstanceQuery,
    InstanceRecord,
    Message,
    pending_record,
)

_UNSET: Any = object()
# How often a waiting client re-reads the store when no in-process signal arrives
# (another process changed it).
_POLL_SECONDS = 0.1
# Every status but PENDING: what waiting for a start waits for.
_STARTED = frozenset(s.value for s in WorkflowStatus if s is not WorkflowStatus.PENDING)


class WorkflowClient:
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

    def schedule_new_workflow(
        self,
        workflow: Callable[..., Any] | str,
        *,
        input: Any = None,
        instance_id: str | None = None,
        start_at: datetime | None = None,
    ) -> str:
        """Start a workflow instance; return its ID. An ID still in use by an
        unfinished instance raises InstanceAlreadyExistsError; a finished one is
        replaced."""
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
        )
        self._store.create_instance(
            record, Message(iid, execution_id, encode_event(started), visible_at)
        )
        return iid

    # --- reading -------------------------------------------------------------------

    def get_workflow_state(
        self, instance_id: str, *, fetch_payloads: bool = True
    ) -> WorkflowState | None:
        """The instance's state, or None if there is no such instance."""
        record = self._store.get_instance(instance_id)
        return None if record is None else state_of(record, fetch_payloads=fetch_payloads)

    def wait_for_workflow_start(
        self, instance_id: str, *, timeout_in_seconds: float = 60, fetch_payloads: bool = False
    ) -> WorkflowState | None:
        """Wait until the instance has left PENDING; None if it does not exist."""
        return self._wait(
            instance_id,
            lambda s: s.runtime_status is not WorkflowStatus.PENDING,
            timeout_in_seconds,
            fetch_payloads,
            _STARTED,
        )

    def wait_for_workflow_completion(
        self, instance_id: str, *, timeout_in_seconds: float = 60, fetch_payloads: bool = True
    ) -> WorkflowState | None:
        """Wait until the instance finished (COMPLETED, FAILED or TERMINATED); None if
        it does not exist. Raises outlast's TimeoutError when the wait elapses."""
        return self._wait(
            instance_id,
            lambda s: s.runtime_status.is_terminal,
            timeout_in_seconds,
            fetch_payloads,
            TERMINAL_STATUSES,
        )

    def _wait(
        self,
        instance_id: str,
        done: Callable[[WorkflowState], bool],
        timeout: float,
        fetch_payloads: bool,
        until: frozenset[str],
    ) -> WorkflowState | None:
        """Wait until ``done``; ``until`` lists the statuses in which it can be, so
        that commits leaving the instance in others (most of them) do not wake us."""
        deadline = time.monotonic() + timeout
        with self._store.watch(instance_id, until) as changed:
            while True:
                changed.clear()
                state = self.get_workflow_state(instance_id, fetch_payloads=fetch_payloads)
                if state is None or done(state):
                    return state
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"workflow instance {instance_id!r} is still "
                        f"{state.runtime_status.value} after {timeout:g}s"
                    )
                changed.wait(min(remaining, _POLL_SECONDS))

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

    def purge_workflow(self, instance_id: str, *, recursive: bool = True) -> bool:
        """Delete a finished instance and its history (and, by default, its child
        workflows'); False if there was no such instance. Raises InvalidStateError,
        purging nothing, when it or one of its children has not finished."""
        if self._store.get_instance(instance_id) is None:
            return False
        ids = [instance_id]
        if recursive:
            ids.extend(self._descendants(instance_id))
        # The store checks each instance has finished and purges all or nothing.
        self._store.purge_instances(ids)
        return True

    def _descendants(self, parent_id: str) -> list[str]:
        found: list[str] = []
        query = InstanceQuery(parent_instance_id=parent_id, limit=500)
        while children := self._store.list_instances(query):
            for child in children:
                found.append(child.instance_id)
                found.extend(self._descendants(child.instance_id))
            query.after = (children[-1].created_at, children[-1].instance_id)
        return found

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
        """The instance's history events as readable dicts (kind, time, fields)."""
        self._require(instance_id)
        out = []
        for text in self._store.get_history(instance_id):
            out.append(describe(decode_event(text)))
        return out

    # --- queries -------------------------------------------------------------------

    def list_workflows(
        self,
        *,
        status: paging.StatusFilter = None,
        name: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        instance_id_prefix: str | None = None,
        parent_instance_id: str | None = None,
        page_size: int = 100,
        continuation_token: str | None = None,
        fetch_payloads: bool = False,
    ) -> paging.WorkflowPage:
        """One page of instances, oldest first, filtered in the store. Pass the page's
        ``continuation_token`` back to get the next page; it is None on the last.
        ``parent_instance_id``: only the child workflows of that instance."""
        if not 1 <= page_size <= 10_000:
            raise ValueError("page_size must be between 1 and 10000")
        query = paging.query(
            status=status,
            name=name,
            created_after=created_after,
            created_before=created_before,
            instance_id_prefix=instance_id_prefix,
            parent_instance_id=parent_instance_id,
            limit=page_size + 1,
        )
        if continuation_token is not None:
            query.after = paging.decode_token(continuation_token)
        records = self._store.list_instances(query)
        token = None
        if len(records) > page_size:
            records = records[:page_size]
            last = records[-1]
            token = paging.encode_token(last.created_at, last.instance_id)
        return paging.WorkflowPage(
            [state_of(r, fetch_payloads=fetch_payloads) for r in records], token
        )

    def count_workflows(
        self,
        *,
        status: paging.StatusFilter = None,
        name: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        instance_id_prefix: str | None = None,
    ) -> paging.StatusCounts:
        """How many instances match the filter, by status (statuses with none left
        out). One index-only count per status."""
        counts = self._store.count_instances(
            paging.query(
                status=status,
                name=name,
                created_after=created_after,
                created_before=created_before,
                instance_id_prefix=instance_id_prefix,
            )
        )
        return paging.StatusCounts(
            {WorkflowStatus(s): n for s, n in counts.by_status.items()}, counts.exact
        )

    def get_pending_activities(self, instance_id: str) -> list[PendingActivity]:
        """The instance's activities that were scheduled and have not finished, with
        the worker running each."""
        self._require(instance_id)
        return [
            PendingActivity(a.task_id, a.name, a.owner, a.input)
            for a in self._store.pending_activities(instance_id)
        ]

    def purge_workflows(
        self,
        *,
        status: paging.StatusFilter = None,
        created_before: datetime | None = None,
        name: str | None = None,
        created_after: datetime | None = None,
        instance_id_prefix: str | None = None,
    ) -> int:
        """Purge every finished instance matching the filter; return how many."""
        query = paging.query(
            status=status,
            name=name,
            created_after=created_after,
            created_before=created_before,
            instance_id_prefix=instance_id_prefix,
            limit=500,
        )
        query.statuses = query.statuses or sorted(TERMINAL_STATUSES)
        unfinished = [s for s in query.statuses if s not in TERMINAL_STATUSES]
        if unfinished:
            raise InvalidStateError(
                f"only finished instances can be purged, not {', '.join(unfinished)}"
            )
        total = 0
        while True:
            records = self._store.list_instances(query)
            if not records:
                return total
            total += self._store.purge_instances([r.instance_id for r in records])
            last = records[-1]
            query.after = (last.created_at, last.instance_id)
