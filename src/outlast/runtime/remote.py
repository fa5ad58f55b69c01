"""Turns whose code runs elsewhere: handed to a remote executor, answered later.

While a turn is in flight its instance takes no other turn; its inbox messages
stay in the inbox until the answer commits (with the round's other turns). An
activity result that arrives while no turn is in flight rides in the next turn
without an inbox row (one commit a step, as for in-process code): it is
committed with the answer, and goes back in line if the turn is abandoned.
"""

from __future__ import annotations

from outlast.core import history as h
from outlast.core.times import Nanos
from outlast.core.turn import InstanceView, Turn
from outlast.runtime.activities import ActivityResult
from outlast.runtime.executors import TurnWork
from outlast.runtime.inputs import Cached, InFlight, Pending
from outlast.runtime.state import WorkerState
from outlast.store.base import CommitBatch, InstanceRecord


class Remote(WorkerState):
    """Part of ``Worker``."""

    def _send_remote(
        self,
        cached: Cached,
        events: list[h.Event],
        message_ids: list[int],
        local: list[tuple[ActivityResult, h.Event]],
        now: Nanos,
    ) -> None:
        assert cached.remote is not None and cached.past is not None
        started = next((e for e in events if isinstance(e, h.ExecutionStarted)), None)
        if started is not None:
            view = cached.view
            view.name, view.parent, view.depth = started.name, started.parent, started.depth
            view.scheduled_time = started.scheduled_time
        token = next(self._tokens)
        flight = InFlight(token, cached, events, message_ids, now, local)
        with self._cv:
            self._in_flight[cached.view.instance_id] = flight
            if local:
                # Held by the flight now: a failed round must not requeue them too.
                held = {id(r) for r, _ in local}
                self._round_results = [r for r in self._round_results if id(r) not in held]
        cached.remote.dispatch(TurnWork(cached.view, cached.past, events, now, token))

    def _answered(
        self, instance_id: str, token: int, turn: Turn, batch: CommitBatch
    ) -> Pending | None:
        with self._cv:
            flight = self._in_flight.get(instance_id)
            if flight is None or flight.token != token:
                return None
            del self._in_flight[instance_id]
            # Events that came while it was in flight were left in the inbox.
            self._fetch = True
            # Its results are this round's now: should the commit fail, they go
            # back in line with the round's others.
            self._round_results.extend(r for r, _ in flight.local)
        cached = flight.cached
        if self._cache.get(instance_id) is not cached:
            self._cache[instance_id] = cached
        batch.finished_activities.extend((r.instance_id, r.task_id) for r, _ in flight.local)
        return self._write(
            cached, flight.events, turn, flight.message_ids, flight.local, flight.now, batch
        )


def view_of(record: InstanceRecord, past: list[h.Event]) -> InstanceView:
    started = next((e for e in past if isinstance(e, h.ExecutionStarted)), None)
    if started is None:
        return InstanceView(record.instance_id, record.execution_id, record.name)
    return InstanceView(
        record.instance_id,
        record.execution_id,
        started.name,
        started.parent,
        started.depth,
        started.scheduled_time,
    )
