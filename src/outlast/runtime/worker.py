"""The worker loop: claim work, have turns run, commit them in one batch, dispatch.

One thread runs rounds; everything it learns between two commits (activity
results, new inbox messages, due timers, turns answered by remote executors,
across many instances) goes into the next single transaction: group commit. How
a round's turns are computed is ``rounds.py``, the loop that runs rounds
``loop.py`` (this module: the worker's state and lifecycle); housekeeping is
``housekeeping.py``; who runs workflow and activity code is behind the executor
seam (``executors.py``).
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

from outlast.clock import Clock
from outlast.core.flow import Limit
from outlast.core.history import OrchestratorStarted
from outlast.core.registry import Registry
from outlast.core.turn import DEFAULT_MAX_CHILD_DEPTH, Turn
from outlast.errors import OutlastError
from outlast.runtime.activities import ActivityExecutor, ActivityResult
from outlast.runtime.executors import ActivityDispatcher, TurnExecutor
from outlast.runtime.flow import FlowControl
from outlast.runtime.inputs import Abandoned, Cached, InFlight
from outlast.runtime.limits import WorkflowLimits
from outlast.runtime.logs import Lifecycle
from outlast.runtime.loop import Loop
from outlast.runtime.stats import RuntimeStats
from outlast.runtime.tracing import runtime_tracing
from outlast.runtime.watchdog import Watchdog
from outlast.store.base import Store

log = logging.getLogger("outlast.worker")


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
    # Cluster-wide limits by activity or workflow name, enforced by the store
    # (runtime.limit, docs/flow-control.md).
    flow_limits: dict[str, Limit] = field(default_factory=dict)
    # Finished instances are purged once this long past their last update, per status.
    retention: dict[str, float] = field(default_factory=dict)
    retention_interval: float = 60.0
    max_payload_bytes: int | None = None
    # A turn of workflow code running longer than this is abandoned (None: never).
    deadlock_timeout: float | None = 2.0
    max_child_depth: int = DEFAULT_MAX_CHILD_DEPTH
    # Child processes for activities registered with isolation="process".
    activity_processes: int = 2
    # Lifecycle logs carry inputs and outputs (off: payloads may hold personal data).
    log_payloads: bool = False
    # An OpenTelemetry TracerProvider (None: the global one, if an SDK set it).
    tracer_provider: object = None


class Worker(Loop):
    def __init__(
        self,
        store: Store,
        registry: Registry,
        clock: Clock,
        options: WorkerOptions,
        stats: RuntimeStats | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.clock = clock
        self.options = options
        self.host = socket.gethostname()
        self.worker_id = f"{self.host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._cv = threading.Condition()
        self._results: list[ActivityResult] = []
        self._answers: list[tuple[str, int, Turn]] = []  # turns answered by remote executors
        self._fetch = True
        self._stopping = False
        self._cache: OrderedDict[str, Cached] = OrderedDict()
        self.stats = stats or RuntimeStats()
        self._lifecycle = Lifecycle(options.log_payloads)
        self._activities = ActivityExecutor(
            registry,
            options.max_concurrent_activities,
            self._on_activity_result,
            options.activity_limits,
            options.max_payload_bytes,
            self.stats,
            options.activity_processes,
        )
        self._tracing = runtime_tracing(options.tracer_provider)
        self._activities.tracing = self._tracing
        self._remote: TurnExecutor | None = None
        self._remote_activities: ActivityDispatcher | None = None
        self._in_flight: dict[str, InFlight] = {}
        self._tokens = itertools.count(1)
        self._limits = WorkflowLimits(options.workflow_limits)
        self._flow = FlowControl(options.flow_limits, registry.workflows)
        self._thread: threading.Thread | None = None
        # One round at a time, run by the worker thread or, to save two thread
        # hand-offs a step, by the activity thread whose result it carries.
        self._round_lock = threading.Lock()
        self._in_round = threading.local()
        # Bumped when a stuck turn is abandoned: rounds of an older generation stop.
        self._generation = 0
        self._round_results: list[ActivityResult] = []
        self._stuck: dict[str, str] = {}  # instance -> where its code hung, to stall
        self._watchdog = (
            None
            if options.deadlock_timeout is None
            else Watchdog(options.deadlock_timeout, self._on_stuck)
        )
        self._max_child_depth = options.max_child_depth
        self._round_thread = 0
        self._marker = OrchestratorStarted(0)
        self._marker_text = ""
        self._quarantined: dict[str, str] = {}  # instances whose rows cannot be used
        self._turn_failures: dict[str, int] = {}  # instance -> commits failed in a row
        self._next_due: float | None = None
        self._last_poll = 0.0
        self._last_heartbeat = 0.0
        self._last_reap = 0.0
        self._last_purge = 0.0
        self.last_error: str | None = None
        # Activities started here whose end is not committed yet, and when this
        # worker last compared them with the activities the store says it owns.
        self._inflight: set[tuple[str, int]] = set()
        self._last_reconcile = time.monotonic()
        self._last_ended_check = 0.0

    # --- lifecycle -----------------------------------------------------------------

    def attach(
        self,
        executor: TurnExecutor | None = None,
        activities: ActivityDispatcher | None = None,
    ) -> None:
        """Run workflows and activities that no in-process registry knows through
        ``executor`` and ``activities`` (connected SDK workers, say)."""
        self._remote = executor
        self._remote_activities = activities
        self._wake()

    def start(self) -> None:
        now = self.clock.now()
        self.store.register_worker(
            self.worker_id, self.host, os.getpid(), now + self.options.lease_seconds
        )
        self.store.add_listener(self._on_store_change)
        self.clock.add_listener(self._wake)
        self._reap(now)
        self._revive_stalled(now)
        if self._watchdog is not None:
            self._watchdog.start()
        self._start_thread()

    def _start_thread(self) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(self._generation,), name="outlast-worker", daemon=True
        )
        self._thread.start()

    @property
    def is_alive(self) -> bool:
        """The worker thread runs (it is replaced if workflow code hangs it)."""
        return self._thread is not None and self._thread.is_alive() and not self._stopping

    @property
    def is_idle(self) -> bool:
        """Nothing to do until time passes: no activity running or waiting to be
        committed, no result or remote answer queued, no fetch asked for, no round
        running, and no message due by the clock (test environments skip time then)."""
        with self._cv:
            if self._results or self._answers or self._fetch or self._in_flight:
                return False
            if self._inflight or self._stopping:
                return False
        if self._round_lock.locked():
            return False
        due = self._next_due
        return due is None or due > self.clock.now()

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(self.options.shutdown_grace + 5)
        if self._watchdog is not None:
            self._watchdog.stop()
        self._activities.shutdown(self.options.shutdown_grace)
        with self._cv:
            # Results held by unanswered remote turns go to the inbox (the turns
            # are in flight, so the final round writes them as messages).
            for flight in self._in_flight.values():
                self._results.extend(r for r, _ in flight.local)
                flight.local = []
        # Results of activities that finished during shutdown still count.
        with self._round_lock:
            try:
                self._commit_round(fetch=False, generation=self._generation)
            except (OutlastError, Abandoned):
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
        lock = self._round_lock
        if inline and not self._stopping and lock.acquire(blocking=False):
            try:
                self._guarded_round(housekeeping=False, generation=self._generation)
            finally:
                lock.release()
        with self._cv:
            if self._results or self._fetch:
                self._cv.notify_all()

    # --- the remote executor's answers (the TurnSink side of the seam) --------------

    def turn_done(self, instance_id: str, token: int, turn: Turn) -> bool:
        with self._cv:
            flight = self._in_flight.get(instance_id)
            if flight is None or flight.token != token:
                return False
            self._answers.append((instance_id, token, turn))
            self._cv.notify_all()
        return True

    def turn_abandoned(self, instance_id: str, token: int) -> None:
        with self._cv:
            flight = self._in_flight.get(instance_id)
            if flight is not None and flight.token == token:
                del self._in_flight[instance_id]
                self._fetch = True  # its messages are still in the inbox
                # The results it carried go back in line, for the next dispatch.
                self._results.extend(r for r, _ in flight.local)
                self._cv.notify_all()

    def executor_ready(self) -> None:
        """A remote executor that was not ready is: look for work it can take now."""
        self._wake()

    def activity_done(self, result: ActivityResult) -> None:
        """The result of an activity handed to a remote dispatcher."""
        self._on_activity_result(result, False)

    # --- a turn that hangs ---------------------------------------------------------

    def _on_stuck(self, instance_id: str, where: str) -> None:
        """The watchdog found a turn of ``instance_id`` running too long: carry on
        with a new worker thread and a fresh cache; the stuck thread's round is
        thrown away when (if) it returns."""
        log.error(
            "workflow instance %s blocked its turn for over %gs at %s; it is set aside "
            "(STALLED) and the other instances carry on",
            instance_id,
            self.options.deadlock_timeout,
            where,
        )
        with self._cv:
            self._generation += 1
            self._stuck[instance_id] = where
            # The stuck round took these results; they go back in line.
            self._results[:0] = self._round_results
            self._round_results = []
            self._cache = OrderedDict()
            self._round_lock = threading.Lock()
            self._fetch = True
        self._start_thread()
