"""One round of the worker: gather what arrived, compute each instance's turn, pack
them all into one batch.

Per instance the turn comes from the in-process executor (the workflow's generator,
kept in the sticky cache) or, for names no in-process registry knows, from a
remote executor whose answer arrives in a later round. Either way the records
come from the one pure function, ``core.turn.build_turn``. A failure in one
instance's turn, whatever it raises, is set aside for that instance; the round
goes on with the others. One instance's turn is ``instance_turns.py``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict

from outlast.clock import now_ns
from outlast.core import history as h
from outlast.core.codec import decode_event, encode_event
from outlast.core.times import Nanos, to_seconds
from outlast.core.turn import Turn
from outlast.runtime.activities import ActivityResult
from outlast.runtime.inputs import Abandoned, Inputs, Pending
from outlast.runtime.instance_turns import InstanceTurns
from outlast.runtime.turns import result_message
from outlast.store.base import CommitBatch, InstanceRecord

log = logging.getLogger("outlast.worker")

# Seconds of turns between two GIL yields in a long round.
_YIELD_EVERY = 0.001
# Instances whose state is read from the store in one go when a round needs them.
_LOAD_CHUNK = 100


class Rounds(InstanceTurns):
    """Part of ``Worker``."""

    def _prepare(
        self,
        results: list[ActivityResult],
        answers: list[tuple[str, int, Turn]],
        fetch: bool,
        generation: int,
    ) -> tuple[CommitBatch, list[Pending]]:
        """Gather this round's inputs and compute its turns into one batch."""
        now = now_ns(self.clock)
        # Every turn of a round begins with the same marker: one object, encoded once.
        self._marker = h.OrchestratorStarted(now)
        self._marker_text = encode_event(self._marker)
        now_s = to_seconds(now)
        batch = CommitBatch(self.worker_id)
        pending: list[Pending] = []
        inputs: dict[str, Inputs] = defaultdict(Inputs)
        flow = self._flow.active
        freed = False
        for r in results:
            if flow and self._flow.finished(r.instance_id, r.task_id):
                freed = True
            cached = self._cache.get(r.instance_id)
            if (
                cached is not None
                and cached.view.execution_id == r.execution_id
                and r.instance_id not in self._in_flight
            ):
                # Applied in this round's turn, no inbox row: a remote turn's
                # results are marked finished when its answer commits.
                inputs[r.instance_id].local.append(r)
                if cached.remote is None:
                    batch.finished_activities.append((r.instance_id, r.task_id))
            else:
                batch.finished_activities.append((r.instance_id, r.task_id))
                batch.messages.append(result_message(r, now))
        answered: set[str] = set()
        for instance_id, token, turn in answers:
            done = self._answered(instance_id, token, turn, batch)
            if done is not None:
                pending.append(done)
                answered.add(instance_id)
        if fetch:
            self._last_poll = time.monotonic()
            limit = self.options.max_concurrent_workflows
            workflows, activities = self._claimable_names()
            for m in self.store.fetch_messages(self.worker_id, now_s, limit, workflows):
                iid = m.instance_id
                if iid in self._in_flight or iid in answered or iid in self._quarantined:
                    # One turn at a time: these wait for the next (an answered
                    # turn's own messages are consumed by this round's commit).
                    continue
                item = inputs[m.instance_id]
                item.message_ids.append(m.id)
                if m.error is not None:
                    item.broken = f"inbox message {m.id} cannot be read: {m.error}"
                    continue
                try:
                    item.events.append((decode_event(m.event), m.execution_id))
                except Exception as e:
                    item.broken = f"inbox message {m.id} cannot be read: {e}"
            self._next_due = self.store.next_visible_at(self.worker_id, now_s)
            # Unowned activities: a rerun's, or ones released by a stopped worker.
            for record in self.store.claim_activities(self.worker_id, limit, activities):
                self._dispatch(record)
            if flow:
                room, backlog = self._room(0)
                for record in self._flow.admit(self.store, self.worker_id, now_s, room, backlog):
                    self._dispatch(record)
        for instance_id, where in self._take_stuck():
            self._stall_stuck(instance_id, where, inputs.pop(instance_id, None), batch, now)
        self._run_turns(inputs, batch, pending, now, now_s, generation)
        if flow:
            queued = [self._flow.queue(t, now_s) for t in batch.turns if t.activities]
            freed = self._flow.free_slots(batch) or freed or bool(batch.queued)
            if freed or any(queued):
                room, backlog = self._room(len(batch.finished_activities))
                self._flow.ask(batch, self.clock.now(), room, backlog)
        return batch, pending

    def _room(self, finishing: int) -> tuple[int, int]:
        """What flow control may admit to this worker: as many as it can start now
        (free threads, counting the ``finishing`` ones this commit ends), and the
        backlog it would take of unlimited calls (as many as the workflows it runs
        at once), for limits that have more headroom than that."""
        busy = len(self._inflight) - finishing
        return (
            self.options.max_concurrent_activities - busy,
            self.options.max_concurrent_workflows - busy,
        )

    def _claimable_names(self) -> tuple[set[str] | None, set[str] | None]:
        """What this worker may claim: everything, or while its remote executor
        cannot take work, only what the in-process registry runs (another server's
        SDK workers run the rest; on one server, it waits unclaimed until one
        connects)."""
        remote = self._remote
        if remote is None or remote.ready():
            return None, None
        return set(self.registry.workflows), set(self.registry.activities)

    def _run_turns(
        self,
        inputs: dict[str, Inputs],
        batch: CommitBatch,
        pending: list[Pending],
        now: Nanos,
        now_s: float,
        generation: int,
    ) -> None:
        self._round_thread = threading.get_ident()
        # Instances not in the cache are read a chunk at a time: few queries, and
        # only a chunk's histories in memory at once however long they are.
        cold = [iid for iid in inputs if iid not in self._cache]
        loaded: dict[str, tuple[InstanceRecord, list[str]]] = {}
        yielded = time.perf_counter()
        for instance_id, item in inputs.items():
            if instance_id in self._quarantined:
                continue
            if item.broken is not None:
                self._cache.pop(instance_id, None)
                item.message_ids = []  # kept for a look; the instance waits, STALLED
                self._stall_record(instance_id, item, RuntimeError(item.broken), batch, now, loaded)
                continue
            if cold and instance_id == cold[0]:
                loaded = self._load(cold[:_LOAD_CHUNK])
                del cold[:_LOAD_CHUNK]
            start = (
                next((e for e, _ in item.events if isinstance(e, h.ExecutionStarted)), None)
                if item.events
                else None
            )
            if start is not None and self._limits.put_off(
                instance_id, start, item.message_ids, batch, now_s
            ):
                continue
            if (
                start is not None
                and self._flow.workflows
                and not any(isinstance(e, h.ExecutionTerminated) for e, _ in item.events)
                and self._flow.gate(self.store, instance_id, start, batch, item.message_ids, now_s)
            ):
                continue
            try:
                done = self._turn(instance_id, item, now, batch, loaded, generation)
            except Abandoned:
                raise
            except BaseException as e:
                # Not the code's doing (that fails or stalls its instance inside the
                # executor): a bug or a bad row. Set aside this instance only.
                log.exception("the turn of %s could not be computed", instance_id)
                self._cache.pop(instance_id, None)
                self._stall_record(instance_id, item, e, batch, now, loaded)
                continue
            if done is not None:
                pending.append(done)
            if len(inputs) > 1 and (
                self.store.io.waiting or time.perf_counter() - yielded > _YIELD_EVERY
            ):
                # Let other threads have the GIL during a long round: a thread in a
                # store call (a client starting a workflow, say) needs it back
                # after each statement. Otherwise only now and then: a GIL
                # hand-off costs about as much CPU as a turn.
                time.sleep(0)
                yielded = time.perf_counter()

    def _observe(self, p: Pending) -> None:
        """Log (and trace) what a committed turn did."""
        self._lifecycle.committed(p.instance_id, p.name, p.recorded, p.continued_as_new)
        if self._tracing is not None:
            self._tracing.committed(p)

    def _load(self, instance_ids: list[str]) -> dict[str, tuple[InstanceRecord, list[str]]]:
        """Read instances for a round; one that cannot be read is set aside, the
        others load (a corrupt page should cost one instance, not the round)."""
        try:
            return self.store.load_instances(instance_ids)
        except Exception:
            if len(instance_ids) == 1:
                raise
        loaded: dict[str, tuple[InstanceRecord, list[str]]] = {}
        for iid in instance_ids:
            try:
                loaded.update(self.store.load_instances([iid]))
            except Exception as e:
                self._set_aside(iid, f"its stored state cannot be read: {e}")
        return loaded

    def _evict(self, instance_id: str) -> None:
        cached = self._cache.pop(instance_id, None)
        if cached is not None and cached.remote is not None:
            cached.remote.forget(instance_id)
