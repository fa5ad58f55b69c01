"""One instance's turn, for a round (``rounds.py``): its cache entry made from the
store when it is cold (the generator replayed, or the history kept for a remote
executor), its new events run through the workflow code, and the turn's records
written into the round's batch. Part of ``Worker``.
"""

from __future__ import annotations

import logging
import threading
import uuid

from outlast.core import history as h
from outlast.core.codec import decode_event, with_ts
from outlast.core.executor import WorkflowExecutor
from outlast.core.status import WorkflowStatus
from outlast.core.times import Nanos
from outlast.core.turn import InstanceView, Turn, build_turn
from outlast.errors import NonDeterminismError, UnknownWorkflowError
from outlast.runtime.activities import ActivityResult
from outlast.runtime.inputs import Abandoned, Cached, Inputs, Pending
from outlast.runtime.remote import view_of
from outlast.runtime.state import WorkerState
from outlast.runtime.turns import result_event, write_turn
from outlast.store.base import CommitBatch, InstanceRecord

log = logging.getLogger("outlast.worker")

_STALL_ERRORS = (NonDeterminismError, UnknownWorkflowError)


def _new_id() -> str:
    return uuid.uuid4().hex


class InstanceTurns(WorkerState):
    """Part of ``Worker``."""

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
