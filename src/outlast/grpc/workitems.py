"""The ``GetWorkItems`` streams: outlast's remote executor for connected SDK workers.

:class:`WorkItemHub` is the worker's :class:`~outlast.runtime.executors.TurnExecutor`
and :class:`~outlast.runtime.executors.ActivityDispatcher` for every name no
in-process registry knows. The worker calls ``dispatch``/``submit`` from its own
threads; each item goes to one connected stream (round robin), or waits here
while no SDK worker is connected. The answers (``CompleteWorkflowTask``,
``CompleteActivityTask``) go back to the worker, which commits them with the
round's other turns. When a stream drops, what was handed to it goes back in
line: its turns are abandoned (their events stay in the inbox for the next
dispatch) and its activities are handed to another stream.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from outlast.core import history as h
from outlast.core.turn import Turn
from outlast.errors import FailureDetails
from outlast.grpc.actions import UnsupportedAction, turn_from_proto
from outlast.grpc.convert import events_to_proto, failure_from_proto
from outlast.grpc.gen.dapr import orchestrator_service_pb2 as svc
from outlast.runtime.activities import ActivityResult
from outlast.runtime.executors import TurnWork
from outlast.store.base import ActivityRecord
from outlast.tracing import traceparent_in

log = logging.getLogger("outlast.grpc")

# Seconds between health pings on an idle stream (workers that advertise them).
HEALTH_PING_SECONDS = 15.0


class Sink(Protocol):
    """The worker's side: where answers go."""

    def turn_done(self, instance_id: str, token: int, turn: Turn) -> bool: ...

    def turn_abandoned(self, instance_id: str, token: int) -> None: ...

    def activity_done(self, result: ActivityResult) -> None: ...


@dataclass(eq=False)
class _Stream:
    loop: asyncio.AbstractEventLoop
    pings: bool
    queue: asyncio.Queue[svc.WorkItem | None] = field(default_factory=asyncio.Queue)

    def push(self, item: svc.WorkItem | None) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)


@dataclass(slots=True)
class _Turn:
    work: TurnWork
    item: svc.WorkItem
    stream: _Stream | None = None


@dataclass(slots=True)
class _Activity:
    record: ActivityRecord
    item: svc.WorkItem
    stream: _Stream | None = None


class WorkItemHub:
    """Hands turns and activities to connected SDK workers and takes their answers."""

    def __init__(self, sink: Callable[[], Sink | None]) -> None:
        self._sink = sink
        self._lock = threading.Lock()
        self._streams: list[_Stream] = []
        self._next = itertools.count()
        self._turns: dict[str, _Turn] = {}  # instance -> its turn in flight
        self._activities: dict[tuple[str, int], _Activity] = {}
        self._waiting: deque[_Turn | _Activity] = deque()  # no stream connected
        self._closed = False

    # --- the worker's side (its threads) ---------------------------------------------

    def runs(self, name: str) -> bool:
        # Whatever no in-process registry knows: the worker asks its registry first.
        return True

    def dispatch(self, work: TurnWork) -> None:
        view = work.view
        request = svc.WorkflowRequest(
            instanceId=view.instance_id,
            pastEvents=events_to_proto(work.past, view.instance_id, view.execution_id),
            newEvents=events_to_proto(work.new, view.instance_id, view.execution_id),
        )
        request.executionId.value = view.execution_id
        item = svc.WorkItem(workflowRequest=request, completionToken=str(work.token))
        with self._lock:
            entry = _Turn(work, item)
            self._turns[view.instance_id] = entry
            self._place(entry)

    def forget(self, instance_id: str) -> None:
        with self._lock:
            self._turns.pop(instance_id, None)

    def submit(self, record: ActivityRecord) -> None:
        request = svc.ActivityRequest(name=record.name, taskId=record.task_id, taskExecutionId="")
        if record.input is not None:
            request.input.value = record.input
        request.workflowInstance.instanceId = record.instance_id
        request.workflowInstance.executionId.value = record.execution_id
        traceparent = traceparent_in(record.options)
        if traceparent is not None:
            request.parentTraceContext.traceParent = traceparent
        item = svc.WorkItem(
            activityRequest=request, completionToken=f"{record.execution_id}:{record.task_id}"
        )
        with self._lock:
            entry = _Activity(record, item)
            self._activities[(record.instance_id, record.task_id)] = entry
            self._place(entry)

    def shutdown(self, timeout: float) -> None:
        with self._lock:
            self._closed = True
            streams = list(self._streams)
        for s in streams:
            s.push(None)

    def _place(self, entry: _Turn | _Activity) -> None:
        """Hand ``entry`` to a stream, or keep it until one connects (lock held)."""
        if not self._streams:
            entry.stream = None
            self._waiting.append(entry)
            return
        stream = self._streams[next(self._next) % len(self._streams)]
        entry.stream = stream
        stream.push(entry.item)

    @property
    def connected(self) -> int:
        """How many SDK worker streams are open."""
        return len(self._streams)

    # --- the streams' side (the event loop) ------------------------------------------

    async def stream(self, capabilities: set[int]) -> AsyncIterator[svc.WorkItem]:
        """Work items for one ``GetWorkItems`` call, until it is cancelled."""
        stream = _Stream(
            asyncio.get_running_loop(),
            pings=svc.WORKER_CAPABILITY_HEALTH_PING in capabilities,
        )
        with self._lock:
            if self._closed:
                return
            self._streams.append(stream)
            waiting, self._waiting = self._waiting, deque()
            for entry in waiting:
                if self._live(entry):
                    self._place(entry)
        try:
            while True:
                try:
                    item = await asyncio.wait_for(stream.queue.get(), HEALTH_PING_SECONDS)
                except TimeoutError:
                    if stream.pings:
                        yield svc.WorkItem(healthPing=svc.HealthPing())
                    continue
                if item is None:
                    return
                yield item
        finally:
            self._dropped(stream)

    def _live(self, entry: _Turn | _Activity) -> bool:
        if isinstance(entry, _Turn):
            return self._turns.get(entry.work.view.instance_id) is entry
        r = entry.record
        return self._activities.get((r.instance_id, r.task_id)) is entry

    def _dropped(self, stream: _Stream) -> None:
        abandoned: list[tuple[str, int]] = []
        with self._lock:
            self._streams.remove(stream)
            for iid, turn in list(self._turns.items()):
                if turn.stream is stream:
                    del self._turns[iid]
                    abandoned.append((iid, turn.work.token))
            for activity in self._activities.values():
                if activity.stream is stream:
                    self._place(activity)
        sink = self._sink()
        if sink is not None:
            for iid, token in abandoned:
                sink.turn_abandoned(iid, token)
        if abandoned:
            log.info("an SDK worker stream closed; %d turns go back in line", len(abandoned))

    def complete_turn(self, resp: svc.WorkflowResponse) -> bool:
        """An SDK's answer to a turn; False if it answers no turn in flight."""
        with self._lock:
            entry = self._turns.get(resp.instanceId)
            if entry is None:
                return False
            token = entry.work.token
            if resp.completionToken and resp.completionToken != str(token):
                return False  # stale: a later dispatch of the instance is in flight
            del self._turns[resp.instanceId]
        try:
            turn = turn_from_proto(resp, time.time_ns())
        except UnsupportedAction as e:
            failure = FailureDetails("UnsupportedAction", str(e), non_retriable=True)
            turn = Turn([h.CompleteWorkflow("FAILED", failure=failure)])
        turn.suspended = _suspended(entry.work)
        sink = self._sink()
        return sink is not None and sink.turn_done(resp.instanceId, token, turn)

    def complete_activity(self, resp: svc.ActivityResponse) -> bool:
        """An SDK's activity result; False if no such activity is in flight."""
        with self._lock:
            entry = self._activities.pop((resp.instanceId, resp.taskId), None)
        if entry is None:
            return False
        r = entry.record
        if resp.HasField("failureDetails"):
            result = ActivityResult(
                r.instance_id,
                r.execution_id,
                r.task_id,
                failure=failure_from_proto(resp.failureDetails),
            )
        else:
            value = resp.result.value if resp.HasField("result") else None
            result = ActivityResult(r.instance_id, r.execution_id, r.task_id, result=value)
        sink = self._sink()
        if sink is None:
            return False
        sink.activity_done(result)
        return True


def _suspended(work: TurnWork) -> bool:
    """Whether the instance is suspended after this turn: the SDK's answer does not
    say, its history does (the last suspend or resume wins)."""
    for e in reversed([*work.past, *work.new]):
        if isinstance(e, h.ExecutionSuspended):
            return True
        if isinstance(e, h.ExecutionResumed):
            return False
    return False
