"""What the parts of the worker share: its state, declared once.

``Worker`` (``worker.py``) is assembled from ``Loop``, ``Rounds``, ``Isolation``,
``Housekeeping`` and the others; each reads and writes the state declared here, which
``Worker.__init__`` sets.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from outlast.clock import Clock
from outlast.core import history as h
from outlast.core.registry import Registry
from outlast.core.times import Nanos
from outlast.core.turn import Turn
from outlast.runtime.activities import ActivityExecutor, ActivityResult
from outlast.runtime.executors import ActivityDispatcher, TurnExecutor
from outlast.runtime.flow import FlowControl
from outlast.runtime.inputs import Cached, InFlight, Inputs, Pending
from outlast.runtime.limits import WorkflowLimits
from outlast.runtime.stats import RuntimeStats
from outlast.runtime.watchdog import Watchdog
from outlast.store.base import ActivityRecord, CommitBatch, InstanceRecord, Store

if TYPE_CHECKING:
    from outlast.runtime.logs import Lifecycle
    from outlast.runtime.tracing import Tracing
    from outlast.runtime.worker import WorkerOptions


class WorkerState:
    store: Store
    registry: Registry
    clock: Clock
    options: WorkerOptions
    host: str
    worker_id: str
    _cv: threading.Condition
    _results: list[ActivityResult]
    _answers: list[tuple[str, int, Turn]]
    _round_results: list[ActivityResult]
    _fetch: bool
    _cache: OrderedDict[str, Cached]
    _remote: TurnExecutor | None
    _remote_activities: ActivityDispatcher | None
    _in_flight: dict[str, InFlight]
    _tokens: itertools.count[int]
    _limits: WorkflowLimits
    _flow: FlowControl
    _generation: int
    _stuck: dict[str, str]
    _watchdog: Watchdog | None
    _quarantined: dict[str, str]
    _max_child_depth: int
    _tracing: Tracing | None
    _lifecycle: Lifecycle
    _round_thread: int  # the thread running the current round
    _marker: h.OrchestratorStarted  # the current round's turn marker
    _marker_text: str
    _turn_failures: dict[str, int]
    _next_due: float | None
    _last_poll: float
    _last_heartbeat: float
    _last_reap: float
    _last_purge: float
    _last_reconcile: float
    _last_ended_check: float
    _inflight: set[tuple[str, int]]
    _activities: ActivityExecutor
    stats: RuntimeStats
    last_error: str | None
    _stopping: bool
    _round_lock: threading.Lock
    _in_round: threading.local

    # Methods one part calls on another (each defined once, in the part named).

    def _dispatch(self, record: ActivityRecord) -> None:  # worker.py
        raise NotImplementedError

    def _write(  # instance_turns.py
        self,
        cached: Cached,
        applied: list[h.Event],
        turn: Turn,
        message_ids: list[int],
        local: list[tuple[ActivityResult, h.Event]],
        now: Nanos,
        batch: CommitBatch,
    ) -> Pending:
        raise NotImplementedError

    def _set_aside(self, instance_id: str, reason: str) -> None:  # stalls.py
        raise NotImplementedError

    def _stall(  # stalls.py
        self,
        record: InstanceRecord,
        item: Inputs,
        error: BaseException,
        now: Nanos,
        batch: CommitBatch,
        history_len: int,
    ) -> None:
        raise NotImplementedError

    def _stall_record(  # stalls.py
        self,
        instance_id: str,
        item: Inputs,
        error: BaseException,
        batch: CommitBatch,
        now: Nanos,
        loaded: dict[str, tuple[InstanceRecord, list[str]]],
    ) -> None:
        raise NotImplementedError

    def _take_stuck(self) -> list[tuple[str, str]]:  # stalls.py
        raise NotImplementedError

    def _claimable_names(self) -> tuple[set[str] | None, set[str] | None]:  # rounds.py
        raise NotImplementedError

    def _stall_stuck(  # stalls.py
        self, instance_id: str, where: str, item: Inputs | None, batch: CommitBatch, now: Nanos
    ) -> None:
        raise NotImplementedError

    def _send_remote(  # remote.py
        self,
        cached: Cached,
        events: list[h.Event],
        message_ids: list[int],
        local: list[tuple[ActivityResult, h.Event]],
        now: Nanos,
    ) -> None:
        raise NotImplementedError

    def _answered(  # remote.py
        self, instance_id: str, token: int, turn: Turn, batch: CommitBatch
    ) -> Pending | None:
        raise NotImplementedError
