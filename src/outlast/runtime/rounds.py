"""One round of the worker: gather what arrived, compute each instance's turn, pack
them all into one batch.

Per instance the turn comes from the in-process executor (the workflow's generator,
kept in the sticky cache) or, for names no in-process registry knows, from a
remote executor whose answer arrives in a later round. Either way the records
come from the one pure function, ``core.turn.build_turn``. A failure in one
instance's turn, whatever it raises, is set aside for that instance; the round
goes on with the others.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import defaultdict

from outlast.clock import now_ns
from outlast.core import history as h
from outlast.core.codec import decode_event, encode_event, with_ts
from outlast.core.executor import WorkflowExecutor
from outlast.core.status import WorkflowStatus
from outlast.core.times import Nanos, to_seconds
from outlast.core.turn import InstanceView, Turn, build_turn
from outlast.errors import NonDeterminismError, UnknownWorkflowError
from outlast.runtime.activities import ActivityResult
from outlast.runtime.inputs import Abandoned, Cached, Inputs, Pending
from outlast.runtime.remote import view_of
from outlast.runtime.state import WorkerState
from outlast.runtime.turns import result_event, result_message, write_turn
from outlast.store.base import CommitBatch, InstanceRecord

log = logging.getLogger("outlast.worker")

_STALL_ERRORS = (NonDeterminismError, UnknownWorkflowError)
# Seconds of turns between two GIL yields in a long round.
_YIELD_EVERY = 0.001
# Instances whose state is read from the store in one go when a round needs them.
_LOAD_CHUNK = 100


def _new_id() -> str:
    return uuid.uuid4().hex


class Rounds(WorkerState):
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

    def _turn(
        self,
        instance_id: str,
        item: Inputs,
        now: Nanos,
        batch: CommitBatch,
        loaded: dict[str, tuple[InstanceRecord, list[str]]],
        generation: int,
    ) -> Pending | None:
        cached = self._cache.get(instance_id)
        if cached is None:
            found = loaded.pop(instance_id, None)
            if found is None or WorkflowStatus(found[0].status).is_terminal:
                # Purged or finished: nothing will ever wait for these events.
                batch.dropped_messages.extend(item.message_ids)
                return None
            record, stored = found
            cached = self._cold(record, stored, item, now, batch, generation)
            if cached is None:
                return None
            self._cache[instance_id] = cached
        else:
            self._cache.move_to_end(instance_id)
        events: list[h.Event] = [self._marker]
        if item.events:
            execution_id = cached.view.execution_id
            for e, target in item.events:
                if target is None or target == execution_id:
                    events.append(e if e.ts == now else with_ts(e, now))
        local: list[tuple[ActivityResult, h.Event]] = []
        for r in item.local:
            event = result_event(r, now)
            local.append((r, event))
            events.append(event)
        if cached.remote is not None:
            self._send_remote(cached, events, item.message_ids, local, now)
            return None
        executor = cached.executor
        assert executor is not None
        watchdog = self._watchdog
        if watchdog is not None:  # (inlined Watchdog.begin: this is every turn)
            watchdog.turns += 1
            watchdog.thread_id = self._round_thread
            watchdog.instance_id = instance_id
        try:
            turn, applied = executor.run_turn(events)
        except _STALL_ERRORS as e:
            self._check_generation(generation)
            self._cache.pop(instance_id, None)
            current = self.store.get_instance(instance_id)
            if current is None:
                batch.dropped_messages.extend(item.message_ids)
                return None
            self._stall(current, item, e, now, batch, cached.history_len)
            return None
        finally:
            if watchdog is not None:
                watchdog.instance_id = None
        if generation != self._generation:
            raise Abandoned
        view = cached.view
        if (
            view.parent is not executor.parent
            or view.name != executor.name
            or view.scheduled_time != executor.scheduled_time
        ):
            # The first turn's ExecutionStarted tells who the parent is.
            view.name, view.parent, view.depth = executor.name, executor.parent, executor.depth
            view.scheduled_time = executor.scheduled_time
        if len(applied) == 1 and not (turn.actions or turn.custom_status_set or turn.patches):
            # Nothing but the marker (duplicates, or events of another execution):
            # consume the messages, record nothing.
            applied = []
        return self._write(cached, applied, turn, item.message_ids, local, now, batch)

    def _check_generation(self, generation: int) -> None:
        if generation != self._generation:
            raise Abandoned

    def _cold(
        self,
        record: InstanceRecord,
        stored: list[str],
        item: Inputs,
        now: Nanos,
        batch: CommitBatch,
        generation: int,
    ) -> Cached | None:
        """A cache entry for an instance read from the store: its generator replayed
        (in-process code), or its history kept (remote code)."""
        past = [decode_event(e) for e in stored]
        remote = self._remote
        if (
            remote is not None
            and record.name not in self.registry.workflows
            and remote.runs(record.name)
        ):
            view = view_of(record, past)
            return Cached(view, len(stored), record.status, past=past, remote=remote)
        executor = WorkflowExecutor(
            record.instance_id, record.execution_id, self.registry, self.options.max_payload_bytes
        )
        if self._watchdog is not None:
            self._watchdog.begin(record.instance_id, threading.get_ident())
        try:
            executor.replay(past)
        except _STALL_ERRORS as e:
            self._check_generation(generation)
            self._stall(record, item, e, now, batch, len(stored))
            return None
        finally:
            if self._watchdog is not None:
                self._watchdog.end()
        self._check_generation(generation)
        view = InstanceView(
            record.instance_id,
            record.execution_id,
            executor.name or record.name,
            executor.parent,
            executor.depth,
            executor.scheduled_time,
        )
        return Cached(view, len(stored), record.status, executor=executor)

    def _write(
        self,
        cached: Cached,
        applied: list[h.Event],
        turn: Turn,
        message_ids: list[int],
        local: list[tuple[ActivityResult, h.Event]],
        now: Nanos,
        batch: CommitBatch,
    ) -> Pending:
        view = cached.view
        tracing = self._tracing
        if tracing is not None and tracing.on:
            turn = tracing.turn(cached, applied, turn)
        records = build_turn(
            view, applied, turn, now, new_id=_new_id, max_child_depth=self._max_child_depth
        )
        if tracing is not None and records.continue_as_new is not None:
            tracing.continued(view.instance_id, records)
        if records.refused:
            for reason in records.refused:
                log.warning("instance %s: %s", view.instance_id, reason)
        write = write_turn(
            view,
            records,
            history_start=cached.history_len,
            previous_status=cached.status,
            consumed=message_ids,
            local=local,
            worker_id=self.worker_id,
            now=now,
            shared_marker=(self._marker, self._marker_text),
        )
        if self._limits.active:
            self._limits.track(
                view.name, view.instance_id, not records.finished, batch, self.clock.now()
            )
        batch.turns.append(write)
        return Pending(
            view.instance_id,
            write.activities,
            cached.history_len + len(write.history),
            records.finished or records.continue_as_new is not None,
            write.update.status,
            records.history,
            view.name,
            records.continue_as_new is not None,
        )

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
