"""What the parts of the worker share: its state, declared once.

``Worker`` (``worker.py``) is assembled from ``Rounds``, ``Isolation`` and
``Housekeeping``; each reads and writes the state declared here, which
``Worker.__init__`` sets.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from outlast.clock import Clock
from outlast.core.registry import Registry
from outlast.core.turn import Turn
from outlast.runtime.activities import ActivityResult
from outlast.runtime.executors import ActivityDispatcher, TurnExecutor
from outlast.runtime.limits import WorkflowLimits
from outlast.runtime.watchdog import Watchdog
from outlast.store.base import ActivityRecord, Store

if TYPE_CHECKING:
    from outlast.runtime.rounds import Cached, InFlight
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
    _fetch: bool
    _cache: OrderedDict[str, Cached]
    _remote: TurnExecutor | None
    _remote_activities: ActivityDispatcher | None
    _in_flight: dict[str, InFlight]
    _tokens: itertools.count[int]
    _limits: WorkflowLimits
    _generation: int
    _stuck: dict[str, str]
    _watchdog: Watchdog | None
    _quarantined: dict[str, str]
    _turn_failures: dict[str, int]
    _next_due: float | None
    _last_poll: float
    _last_heartbeat: float
    _last_reap: float
    _last_purge: float
    _last_reconcile: float
    _inflight: set[tuple[str, int]]

    def _dispatch(self, record: ActivityRecord) -> None:
        raise NotImplementedError

    def _set_aside(self, instance_id: str, reason: str) -> None:
        raise NotImplementedError
