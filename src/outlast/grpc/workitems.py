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

Each instance's committed history is encoded once, as it grows, and kept here
(:class:`~outlast.grpc.items.EncodedHistory`). An instance's turns go to the
stream that ran its last one while it stays open; if that worker advertised
``STATEFUL_HISTORY`` (it keeps the committed history of the instances it ran) it
is sent only what was committed since (``cachedHistory.eventCount`` says how many
events it already holds; a worker that no longer holds exactly that many asks
``GetInstanceHistory``). Any other stream, a new one after a worker restarts say,
gets the full history.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from outlast.core import history as h
from outlast.core.turn import Turn
from outlast.errors import FailureDetails
from outlast.grpc.actions import UnsupportedAction, terminate_children, turn_from_proto
from outlast.grpc.convert import events_to_proto, failure_from_proto
from outlast.grpc.flavor import DAPR, Flavor
from outlast.grpc.gen.dapr import orchestrator_service_pb2 as dapr_svc
from outlast.grpc.items import EncodedHistory, QueuedActivity, QueuedTurn, Stream, activity_item
from outlast.runtime.activities import ActivityResult
from outlast.runtime.executors import TurnWork
from outlast.store.base import ActivityRecord

log = logging.getLogger("outlast.grpc")

# Seconds between health pings on an idle stream (workers that advertise them).
HEALTH_PING_SECONDS = 15.0


class Sink(Protocol):
    """The worker's side: where answers go."""

    def turn_done(self, instance_id: str, token: int, turn: Turn) -> bool: ...

    def turn_abandoned(self, instance_id: str, token: int) -> None: ...

    def activity_done(self, result: ActivityResult) -> None: ...

    def executor_ready(self) -> None: ...


class WorkItemHub:
    """Hands turns and activities to connected SDK workers and takes their answers."""

    def __init__(self, sink: Callable[[], Sink | None]) -> None:
        self._sink = sink
        self._lock = threading.Lock()
        self._streams: list[Stream] = []
        self._next = itertools.count()
        self._turns: dict[str, QueuedTurn] = {}  # instance -> its turn in flight
        self._activities: dict[tuple[str, int], QueuedActivity] = {}
        self._histories: dict[str, EncodedHistory] = {}
        self._waiting: deque[QueuedTurn | QueuedActivity] = deque()  # no stream connected
        self._closed = False
        # Work is encoded outside the lock for the likeliest stream (the newest
        # one's flavor); _place re-encodes in the rare case, both flavors
        # connected, that a stream of the other is picked.
        self._last_flavor: Flavor = DAPR

    # --- the worker's side (its threads) ---------------------------------------------

    def runs(self, name: str) -> bool:
        # Whatever no in-process registry knows: the worker asks its registry first.
        return True

    def ready(self) -> bool:
        # With no SDK worker connected, other servers' SDK workers should get the
        # work (the worker then claims only what its own registry runs).
        return bool(self._streams)

    def dispatch(self, work: TurnWork) -> None:
        view = work.view
        iid = view.instance_id
        # Only this instance's one turn in flight touches its history: no lock
        # needed to bring it up to date (but the dict is shared: it is written
        # under the lock, which _dropped iterates it under).
        history = self._histories.get(iid)
        if history is None or history.execution_id != view.execution_id:
            history = EncodedHistory(view.execution_id, self._last_flavor)
        elif history.count > len(work.past):
            history = EncodedHistory(view.execution_id, history.flavor)
        history.update(work)
        entry = QueuedTurn(work, history, self._new_events(work, history.flavor))
        with self._lock:
            self._histories[iid] = history
            self._turns[iid] = entry
            self._place(entry)

    def _new_history(self, work: TurnWork, flavor: Flavor) -> EncodedHistory:
        """A fresh history of ``work``'s instance in ``flavor`` (lock held)."""
        history = self._histories[work.view.instance_id] = EncodedHistory(
            work.view.execution_id, flavor
        )
        history.update(work)
        return history

    @staticmethod
    def _new_events(work: TurnWork, flavor: Flavor) -> list[Any]:
        view = work.view
        return events_to_proto(work.new, view.instance_id, view.execution_id, flavor=flavor)

    def forget(self, instance_id: str) -> None:
        with self._lock:
            self._turns.pop(instance_id, None)
            self._histories.pop(instance_id, None)

    def submit(self, record: ActivityRecord) -> None:
        flavor = self._last_flavor
        item = activity_item(record, flavor)
        with self._lock:
            entry = QueuedActivity(record, item, flavor)
            self._activities[(record.instance_id, record.task_id)] = entry
            self._place(entry)

    def shutdown(self, timeout: float) -> None:
        with self._lock:
            self._closed = True
            streams = list(self._streams)
        for s in streams:
            s.push(None)

    def _place(self, entry: QueuedTurn | QueuedActivity) -> None:
        """Hand ``entry`` to a stream, or keep it until one connects (lock held)."""
        if not self._streams:
            entry.stream = None
            self._waiting.append(entry)
            return
        if isinstance(entry, QueuedActivity):
            stream = self._streams[next(self._next) % len(self._streams)]
            entry.stream = stream
            if entry.flavor is not stream.flavor:
                entry.encode(stream.flavor)
            stream.push(entry.item)
            return
        # Its last turn's stream while that stays open: its worker may hold the
        # history (and runs the instance's turns in order).
        warm = entry.history.stream
        if warm is not None and warm in self._streams:
            stream = warm
        else:
            stream = self._streams[next(self._next) % len(self._streams)]
        entry.stream = stream
        if entry.history.flavor is not stream.flavor:
            # Both flavors connected and the other picked (rare): encode afresh.
            entry.history = self._new_history(entry.work, stream.flavor)
            entry.new = self._new_events(entry.work, stream.flavor)
        stream.push(self._turn_item(entry, stream))

    def _turn_item(self, entry: QueuedTurn, stream: Stream) -> Any:
        """The work item of ``entry`` for ``stream``: the delta since the history
        ``stream`` holds, or the full history (lock held)."""
        work, history, flavor = entry.work, entry.history, stream.flavor
        request = flavor.TurnRequest(instanceId=work.view.instance_id, newEvents=entry.new)
        request.executionId.value = history.execution_id
        if stream.stateful and history.stream is stream:
            request.cachedHistory.eventCount = history.held
            request.pastEvents.extend(history.events[history.held :])
        else:
            request.pastEvents.extend(history.events)
        # What the worker holds after this turn: the past it was sent (never the
        # new events: it caches only committed history).
        history.stream = stream if stream.stateful else None
        history.held = len(history.events)
        return flavor.svc.WorkItem(
            completionToken=str(work.token), **{flavor.turn_request: request}
        )

    @property
    def connected(self) -> int:
        """How many SDK worker streams are open."""
        return len(self._streams)

    # --- the streams' side (the event loop) ------------------------------------------

    async def stream(self, capabilities: set[int], flavor: Flavor = DAPR) -> AsyncIterator[Any]:
        """Work items (``flavor``'s) for one ``GetWorkItems`` call, until it is cancelled."""
        stateful = flavor is DAPR and dapr_svc.WORKER_CAPABILITY_STATEFUL_HISTORY in capabilities
        stream = Stream(asyncio.get_running_loop(), flavor.pings(capabilities), flavor, stateful)
        ping = flavor.svc.WorkItem(healthPing=flavor.svc.HealthPing())
        with self._lock:
            if self._closed:
                return
            first = not self._streams
            self._streams.append(stream)
            self._last_flavor = flavor
            waiting, self._waiting = self._waiting, deque()
            for entry in waiting:
                if self._live(entry):
                    self._place(entry)
        sink = self._sink()
        if first and sink is not None:
            sink.executor_ready()  # it may claim remote work now
        try:
            while True:
                item = await stream.next(HEALTH_PING_SECONDS)
                if item is False:
                    if stream.pings:
                        yield ping
                    continue
                if item is None:
                    return
                yield item
        finally:
            self._dropped(stream)

    def _live(self, entry: QueuedTurn | QueuedActivity) -> bool:
        if isinstance(entry, QueuedTurn):
            return self._turns.get(entry.work.view.instance_id) is entry
        r = entry.record
        return self._activities.get((r.instance_id, r.task_id)) is entry

    def _dropped(self, stream: Stream) -> None:
        abandoned: list[tuple[str, int]] = []
        with self._lock:
            self._streams.remove(stream)
            if self._streams:
                self._last_flavor = self._streams[-1].flavor
            for iid, turn in list(self._turns.items()):
                if turn.stream is stream:
                    del self._turns[iid]
                    abandoned.append((iid, turn.work.token))
            for activity in self._activities.values():
                if activity.stream is stream:
                    self._place(activity)
            # Whatever its worker held is gone with it (a new stream starts cold).
            for history in self._histories.values():
                if history.stream is stream:
                    history.stream = None
        sink = self._sink()
        if sink is not None:
            for iid, token in abandoned:
                sink.turn_abandoned(iid, token)
        if abandoned:
            log.info("an SDK worker stream closed; %d turns go back in line", len(abandoned))

    def complete_turn(self, resp: Any, flavor: Flavor = DAPR) -> bool:
        """An SDK's answer to a turn (``flavor``'s); False if it answers no turn in flight."""
        with self._lock:
            entry = self._turns.get(resp.instanceId)
            if entry is None:
                return False
            token = entry.work.token
            if resp.completionToken and resp.completionToken != str(token):
                return False  # stale: a later dispatch of the instance is in flight
            del self._turns[resp.instanceId]
        try:
            turn = turn_from_proto(resp, time.time_ns(), flavor)
        except UnsupportedAction as e:
            failure = FailureDetails("UnsupportedAction", str(e), non_retriable=True)
            turn = Turn([h.CompleteWorkflow("FAILED", failure=failure)])
        turn.suspended = _suspended(entry.work)
        terminate_children(turn, itertools.chain(entry.work.past, entry.work.new))
        sink = self._sink()
        return sink is not None and sink.turn_done(resp.instanceId, token, turn)

    def complete_activity(self, resp: Any) -> bool:
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

    # --- Abandon*WorkItem (the Microsoft flavor): by completion token ----------------

    def abandon_turn(self, token: str) -> bool:
        """The SDK gives a turn back: its events go back in line for a new dispatch."""
        with self._lock:
            found = next((e for e in self._turns.values() if str(e.work.token) == token), None)
            if found is None:
                return False
            del self._turns[found.work.view.instance_id]
        sink = self._sink()
        if sink is not None:
            sink.turn_abandoned(found.work.view.instance_id, found.work.token)
        return True

    def abandon_activity(self, token: str) -> bool:
        """The SDK gives an activity back: it is handed out again."""
        with self._lock:
            for entry in self._activities.values():
                if entry.item.completionToken == token:
                    self._place(entry)
                    return True
        return False


def _suspended(work: TurnWork) -> bool:
    """Whether the instance is suspended after this turn: the SDK's answer does not
    say, its history does (the last suspend or resume wins)."""
    for events in (work.new, work.past):
        for e in reversed(events):
            if isinstance(e, h.ExecutionSuspended):
                return True
            if isinstance(e, h.ExecutionResumed):
                return False
    return False
