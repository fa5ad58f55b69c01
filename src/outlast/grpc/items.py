"""What the ``GetWorkItems`` hub (``workitems.py``) holds: each stream's queue of
items, each instance's history encoded for a flavor, and the turns and activities
waiting for a stream or answered by none yet.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from outlast.grpc.convert import events_to_proto
from outlast.grpc.flavor import DAPR, Flavor
from outlast.runtime.executors import TurnWork
from outlast.store.base import ActivityRecord
from outlast.tracing import traceparent_in


@dataclass(eq=False)
class Stream:
    """One ``GetWorkItems`` call: items pushed from any thread, sent by its loop."""

    loop: asyncio.AbstractEventLoop
    pings: bool
    flavor: Flavor = DAPR
    stateful: bool = False  # the worker keeps the histories it was sent (STATEFUL_HISTORY)
    items: deque[Any] = field(default_factory=deque)
    # Set while a wake-up is on its way to the loop: pushes in between need none
    # (one loop wake-up, a write to its self-pipe, for a burst of items).
    signalled: bool = False
    waiter: asyncio.Future[None] | None = None

    def push(self, item: Any) -> None:
        self.items.append(item)
        if not self.signalled:
            self.signalled = True
            self.loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next(self, timeout: float) -> Any:
        """The next item (None: the stream ends); False if none came within ``timeout``."""
        while True:
            if self.items:
                return self.items.popleft()
            # Before sleeping: a push after this line signals again.
            self.signalled = False
            if self.items:
                continue
            waiter = self.waiter = self.loop.create_future()
            timer = self.loop.call_later(timeout, self._wake)
            try:
                await waiter
            finally:
                self.waiter = None
                timer.cancel()
            if not self.items:
                return False


@dataclass(slots=True, eq=False)
class EncodedHistory:
    """An instance's committed history in one flavor's wire form, and which stream
    holds it."""

    execution_id: str
    flavor: Flavor
    count: int = 0  # how many of outlast's events are encoded (a prefix of the past)
    events: list[Any] = field(default_factory=list)
    stream: Stream | None = None  # the stream its last turn went to
    held: int = 0  # how many of ``events`` that stream's worker holds

    def update(self, work: TurnWork) -> None:
        """Encode what was committed since the last turn."""
        past = work.past
        if self.count < len(past):
            view = work.view
            new = events_to_proto(
                past[self.count :], view.instance_id, self.execution_id, flavor=self.flavor
            )
            self.events.extend(new)
            self.count = len(past)


@dataclass(slots=True)
class QueuedTurn:
    work: TurnWork
    history: EncodedHistory
    new: list[Any]  # the new events, in ``history.flavor``
    stream: Stream | None = None


@dataclass(slots=True)
class QueuedActivity:
    record: ActivityRecord
    item: Any
    flavor: Flavor = DAPR
    stream: Stream | None = None

    def encode(self, flavor: Flavor) -> None:
        self.item, self.flavor = activity_item(self.record, flavor), flavor


def activity_item(record: ActivityRecord, flavor: Flavor) -> Any:
    request = flavor.svc.ActivityRequest(name=record.name, taskId=record.task_id)
    if record.input is not None:
        request.input.value = record.input
    instance = getattr(request, flavor.instance)
    instance.instanceId = record.instance_id
    instance.executionId.value = record.execution_id
    traceparent = traceparent_in(record.options)
    if traceparent is not None:
        request.parentTraceContext.traceParent = traceparent
    return flavor.svc.WorkItem(
        activityRequest=request, completionToken=f"{record.execution_id}:{record.task_id}"
    )
