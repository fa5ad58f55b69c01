"""The worker loop: claim work, run turns, commit them in one batch, dispatch.

One thread runs workflow turns; everything that thread learns between two commits
(activity results, new inbox messages, due timers, across many instances) goes into
the next single transaction: group commit. Running executors stay cached between
turns, so a turn costs only its new events.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field

from outlast.clock import Clock
from outlast.core import history as h
from outlast.core.executor import TurnResult, WorkflowExecutor
from outlast.core.registry import Registry
from outlast.core.status import WorkflowStatus
from outlast.errors import NonDeterminismError, OutlastError, UnknownWorkflowError
from outlast.runtime.activities import ActivityExecutor, ActivityResult
from outlast.runtime.limits import WorkflowLimits
from outlast.runtime.turns import result_event, result_message, stall_turn, write_turn
from outlast.store.base import (
    ActivityRecord,
    CommitBatch,
    InstanceQuery,
    InstanceRecord,
    Store,
)

log = logging.getLogger("outlast.worker")

_STALL_ERRORS = (NonDeterminismError, UnknownWorkflowError)
# Seconds of turns between two GIL yields in a long round.
_YIELD_EVERY = 0.001
# Instances whose state is read from the store in one go when a round needs them.
_LOAD_CHUNK = 100


@dataclass(slots=True)
class WorkerOptions:
    max_concurrent_workflows: int = 1000
    max_concurrent_activities: int = 16
    lease_seconds: float = 30.0
    poll_interval: float = 0.25
    cache_size: int = 10_000
    shutdown_grace: float = 10.0
    activity_limits: dict[str, int] = field(default_factory=dict)
    workflow_limits: dict[str, int] = field(default_factory=dict)
    # Finished instances are purged once this long past their last update, per status.
    retention: dict[str, float] = field(default_factory=dict)
    retention_interval: float = 60.0
    max_payload_bytes: int | None = None


@dataclass(slots=True)
class _Cached:
    executor: WorkflowExecutor
    history_len: int
    status: str  # as last committed


@dataclass(slots=True)
class _Inputs:
    """What one instance's next turn consumes."""

    # Inbox events, each with the execution it is addressed to (None: the current).
    events: list[tuple[h.Event, str | None]] = field(default_factory=list)
    message_ids: list[int] = field(default_factory=list)
    local: list[ActivityResult] = field(default_factory=list)


@dataclass(slots=True)
class _Pending:
    """A turn written into the batch, with what to do once it commits."""

    instance_id: str
    activities: list[ActivityRecord]
    history_len: int
    evict: bool
    status: str


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Worker:
    def __init__(
        self, store: Store, registry: Registry, clock: Clock, options: WorkerOptions
    ) -> None:
        self.store = store
        self.registry = registry
        self.clock = clock
        self.options = options
        self.host = socket.gethostname()
        self.worker_id = f"{self.host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._cv = threading.Condition()
        self._results: list[ActivityResult] = []
        self._fetch = True
        self._stopping = False
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._activities = ActivityExecutor(
            registry,
            options.max_concurrent_activities,
            self._on_activity_result,
            options.activity_limits,
            options.max_payload_bytes,
        )
        self._limits = WorkflowLimits(options.workflow_limits)
        self._thread: threading.Thread | None = None
        # One round at a time, run by the worker thread or, to save two thread
        # hand-offs a step, by the activity thread whose result it carries.
        self._round_lock = threading.Lock()
        self._in_round = threading.local()
        self._next_due: float | None = None
        self._last_poll = 0.0
        self._last_heartbeat = 0.0
        self._last_reap = 0.0
        self._last_purge = 0.0
        # Activities started here whose end is not committed yet, and when this
        # worker last compared them with the activities the store says it owns.
        self._inflight: set[tuple[str, int]] = set()
        self._last_reconcile = time.monotonic()

    # --- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        now = self.clock.now()
        self.store.register_worker(
            self.worker_id, self.host, os.getpid(), now + self.options.lease_seconds
        )
        self.store.add_listener(self._on_store_change)
        self.clock.add_listener(self._wake)
        self._reap(now)
        self._revive_stalled(now)
        self._thread = threading.Thread(target=self._run, name="outlast-worker", daemon=True)
        self._thread.start()

    @property
    def is_alive(self) -> bool:
        """Whether the worker thread runs (read-only: for health reports)."""
        return self._thread is not None and self._thread.is_alive()

    def _revive_stalled(self, now: float) -> None:
        """Give stalled instances another try: this runtime may carry the fixed code
        or the missing workflow. Those that still don't fit stall again."""
        query = InstanceQuery(statuses=[WorkflowStatus.STALLED.value], limit=500)
        while records := self.store.list_instances(query):
            for record in records:
                self.store.set_status_if(
                    record.instance_id, record.status, WorkflowStatus.RUNNING.value, now
                )
            query.after = (records[-1].created_at, records[-1].instance_id)

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join()
        self._activities.shutdown(self.options.shutdown_grace)
        # Results of activities that finished during shutdown still count.
        with self._round_lock:
            try:
                self._commit_round(fetch=False)
            except OutlastError:
                log.exception("final commit at shutdown failed; those activities run again")
        self.store.remove_listener(self._on_store_change)
        self.store.remove_worker(self.worker_id)

    def _wake(self) -> None:
        with self._cv:
            self._fetch = True
            self._cv.notify_all()

    def _on_store_change(self) -> None:
        # Our own commits signal too; what they inserted is handled in _after_commit,
        # so only changes made by other threads (clients, other workers) need a fetch.
        if not getattr(self._in_round, "active", False):
            self._wake()

    def _on_activity_result(self, result: ActivityResult, inline: bool) -> None:
        with self._cv:
            self._results.append(result)
        # If no round is running, run it here: the result, the turn it resumes and
        # the next activity's dispatch then happen on this thread, with no wake-up
        # of the worker thread in between.
        if inline and not self._stopping and self._round_lock.acquire(blocking=False):
            try:
                self._guarded_round(housekeeping=False)
            finally:
                self._round_lock.release()
        with self._cv:
            if self._results or self._fetch:
                self._cv.notify_all()

    # --- the loop ------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cv:
                while not (self._results or self._fetch or self._stopping):
                    timeout = self._idle_timeout()
                    if timeout <= 0:
                        self._fetch = True
                        break
                    self._cv.wait(timeout)
                if self._stopping:
                    return
            with self._round_lock:
                ok = self._guarded_round(housekeeping=True)
            if not ok:
                with self._cv:
                    self._cv.wait(min(1.0, self.options.poll_interval * 4))

    def _guarded_round(self, *, housekeeping: bool) -> bool:
        """Run one round (the round lock held); False if it failed."""
        self._in_round.active = True
        try:
            if housekeeping:
                self._housekeeping()
            self._commit_round(fetch=True)
            return True
        except Exception:
            # The batch was rolled back; drop cached state it may have touched and
            # try again from the store.
            log.exception("worker round failed; retrying")
            self._cache.clear()
            self._last_reconcile = 0.0  # what the failed commit stored is unknown
            with self._cv:
                self._fetch = True
            return False
        finally:
            self._in_round.active = False

    def _idle_timeout(self) -> float:
        now = self.clock.now()
        wait = self._last_poll + self.options.poll_interval - time.monotonic()
        if self._next_due is not None:
            wait = min(wait, self._next_due - now)
        return max(0.0, min(wait, self.options.lease_seconds / 3))

    def _housekeeping(self) -> None:
        mono = time.monotonic()
        now = self.clock.now()
        if mono - self._last_heartbeat >= self.options.lease_seconds / 3:
            self.store.heartbeat(self.worker_id, now + self.options.lease_seconds)
            self._last_heartbeat = mono
        if mono - self._last_reap >= self.options.lease_seconds / 2:
            self._reap(now)
        if mono - self._last_reconcile >= self.options.lease_seconds:
            self._reconcile()
        if self.options.retention and mono - self._last_purge >= self.options.retention_interval:
            self._last_purge = mono
            self._apply_retention(now)

    def _apply_retention(self, now: float) -> None:
        for status, age in self.options.retention.items():
            query = InstanceQuery(statuses=[status], updated_before=now - age, limit=500)
            while records := self.store.list_instances(query):
                purged = self.store.purge_instances([r.instance_id for r in records])
                log.info("retention purged %d %s instances", purged, status)

    def _dispatch(self, record: ActivityRecord) -> None:
        self._inflight.add((record.instance_id, record.task_id))
        self._activities.submit(record)

    def _reconcile(self) -> None:
        """Start the activities the store says this worker owns that it is not
        running. A commit whose outcome was lost with the connection, then taken
        for failed, may have stored activities that were never started; without
        this they would wait for this worker to die."""
        self._last_reconcile = time.monotonic()
        for record in self.store.owned_activities(self.worker_id):
            if (record.instance_id, record.task_id) not in self._inflight:
                log.warning(
                    "activity %s of %s was stored as ours but not running; starting it",
                    record.task_id,
                    record.instance_id,
                )
                self._dispatch(record)

    def _reap(self, now: float) -> None:
        self._last_reap = time.monotonic()
        self.store.reap_workers(now, lambda host, pid: host == self.host and not _pid_alive(pid))
        for record in self.store.claim_activities(self.worker_id, 10_000):
            self._dispatch(record)

    # --- one round: gather, run turns, commit, dispatch ------------------------------

    def _commit_round(self, *, fetch: bool) -> None:
        with self._cv:
            results, self._results = self._results, []
            fetch = fetch and self._fetch
            self._fetch = False
        try:
            batch, pending = self._prepare(results, fetch)
            if not batch:
                return
            rejected = self.store.commit(batch)
        except BaseException:
            # Nothing of this round was saved: its activity results exist only here,
            # so they go back in line for the next round.
            with self._cv:
                self._results[:0] = results
            raise
        self._after_commit(batch, pending, rejected)

    def _prepare(
        self, results: list[ActivityResult], fetch: bool
    ) -> tuple[CommitBatch, list[_Pending]]:
        """Gather this round's inputs and run its turns into one batch."""
        now = self.clock.now()
        batch = CommitBatch(self.worker_id)
        inputs: dict[str, _Inputs] = defaultdict(_Inputs)
        for r in results:
            batch.finished_activities.append((r.instance_id, r.task_id))
            cached = self._cache.get(r.instance_id)
            if cached is not None and cached.executor.execution_id == r.execution_id:
                inputs[r.instance_id].local.append(r)
            else:
                batch.messages.append(result_message(r, now))
        if fetch:
            self._last_poll = time.monotonic()
            limit = self.options.max_concurrent_workflows
            for m in self.store.fetch_messages(self.worker_id, now, limit):
                item = inputs[m.instance_id]
                item.message_ids.append(m.id)
                item.events.append((h.decode_event(m.event), m.execution_id))
            self._next_due = self.store.next_visible_at(self.worker_id, now)
            # Unowned activities: a rerun's, or ones released by a stopped worker.
            for record in self.store.claim_activities(self.worker_id, limit):
                self._dispatch(record)
        pending: list[_Pending] = []
        # Instances not in the cache are read a chunk at a time: few queries, and
        # only a chunk's histories in memory at once however long they are.
        cold = [iid for iid in inputs if iid not in self._cache]
        loaded: dict[str, tuple[InstanceRecord, list[str]]] = {}
        yielded = time.perf_counter()
        for instance_id, item in inputs.items():
            if cold and instance_id == cold[0]:
                loaded = self.store.load_instances(cold[:_LOAD_CHUNK])
                del cold[:_LOAD_CHUNK]
            start = (
                next((e for e, _ in item.events if isinstance(e, h.ExecutionStarted)), None)
                if item.events
                else None
            )
            if start is not None and self._limits.put_off(
                instance_id, start, item.message_ids, batch, now
            ):
                continue
            done = self._turn(instance_id, item, now, batch, loaded)
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
        return batch, pending

    def _after_commit(
        self, batch: CommitBatch, pending: list[_Pending], rejected: set[str]
    ) -> None:
        self._inflight.difference_update(batch.finished_activities)
        inserted = list(batch.messages)
        for turn in batch.turns:
            if turn.instance_id in rejected:
                inserted.extend(turn.fallback)
            else:
                inserted.extend(turn.messages)
                inserted.extend(c.start for c in turn.children)
        if inserted:
            soonest = min(m.visible_at for m in inserted)
            if soonest <= self.clock.now():
                with self._cv:
                    self._fetch = True
            elif self._next_due is None or soonest < self._next_due:
                self._next_due = soonest
        for p in pending:
            if p.instance_id in rejected or p.evict:
                self._cache.pop(p.instance_id, None)
                continue
            cached = self._cache.get(p.instance_id)
            if cached is not None:
                cached.history_len = p.history_len
                cached.status = p.status
            for record in p.activities:
                self._dispatch(record)
        while len(self._cache) > self.options.cache_size:
            self._cache.popitem(last=False)

    def _turn(
        self,
        instance_id: str,
        item: _Inputs,
        now: float,
        batch: CommitBatch,
        loaded: dict[str, tuple[InstanceRecord, list[str]]],
    ) -> _Pending | None:
        cached = self._cache.get(instance_id)
        if cached is None:
            found = loaded.pop(instance_id, None)
            if found is None or WorkflowStatus(found[0].status).is_terminal:
                # Purged or finished: nothing will ever wait for these events.
                batch.dropped_messages.extend(item.message_ids)
                return None
            record, stored = found
            executor = WorkflowExecutor(
                instance_id, record.execution_id, self.registry, self.options.max_payload_bytes
            )
            try:
                executor.replay(h.decode_event(e) for e in stored)
            except _STALL_ERRORS as e:
                self._stall(record, item, e, now, batch, len(stored))
                return None
            cached = _Cached(executor, len(stored), record.status)
            self._cache[instance_id] = cached
        else:
            self._cache.move_to_end(instance_id)
        executor = cached.executor
        events = [
            e for e, target in item.events if target is None or target == executor.execution_id
        ]
        first_local = len(events)
        events += [result_event(r, now) for r in item.local]
        try:
            result = executor.run_turn(events, now)
        except _STALL_ERRORS as e:
            self._cache.pop(instance_id, None)
            current = self.store.get_instance(instance_id)
            if current is None:
                batch.dropped_messages.extend(item.message_ids)
                return None
            self._stall(current, item, e, now, batch, cached.history_len)
            return None
        return self._write_turn(executor, cached, item, result, now, batch, first_local)

    def _write_turn(
        self,
        ex: WorkflowExecutor,
        cached: _Cached,
        item: _Inputs,
        result: TurnResult,
        now: float,
        batch: CommitBatch,
        first_local: int,
    ) -> _Pending:
        turn = write_turn(
            ex,
            result,
            history_start=cached.history_len,
            previous_status=cached.status,
            consumed=item.message_ids,
            local=item.local,
            first_local=first_local,
            worker_id=self.worker_id,
            now=now,
        )
        running = not result.status.is_terminal
        self._limits.track(ex.name, ex.instance_id, running, batch, now)
        batch.turns.append(turn)
        return _Pending(
            ex.instance_id,
            turn.activities,
            cached.history_len + len(turn.history),
            result.completion is not None,
            turn.update.status,
        )

    def _stall(
        self,
        record: InstanceRecord,
        item: _Inputs,
        error: Exception,
        now: float,
        batch: CommitBatch,
        history_len: int,
    ) -> None:
        batch.messages.extend(result_message(r, now) for r in item.local)
        terminate = next((e for e, _ in item.events if isinstance(e, h.ExecutionTerminated)), None)
        if terminate is None:
            log.warning("instance %s stalled: %s", record.instance_id, error)
        self._limits.track(record.name, record.instance_id, False, batch, now)
        batch.turns.append(stall_turn(record, error, terminate, item.message_ids, history_len, now))
