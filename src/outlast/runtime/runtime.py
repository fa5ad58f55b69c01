"""``WorkflowRuntime``: register workflows and activities, then run them durably."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

from outlast.client import catalog
from outlast.client.client import WorkflowClient
from outlast.clock import SYSTEM_CLOCK, Clock
from outlast.core.registry import Registry
from outlast.core.serialization import default_max_payload_bytes
from outlast.core.status import WorkflowStatus
from outlast.core.turn import DEFAULT_MAX_CHILD_DEPTH
from outlast.errors import InvalidStateError
from outlast.runtime import hosting
from outlast.runtime.executors import ActivityDispatcher, TurnExecutor
from outlast.runtime.registration import Registration
from outlast.runtime.scheduler import ScheduleDeclarations, Scheduler
from outlast.runtime.stats import RuntimeStats
from outlast.runtime.worker import Worker, WorkerOptions
from outlast.store import Store, open_store

if TYPE_CHECKING:
    from outlast.client.aio import WorkflowClient as AsyncWorkflowClient


def _limits(limits: Mapping[str, int] | None, what: str) -> dict[str, int]:
    checked = dict(limits or {})
    for name, cap in checked.items():
        if not isinstance(cap, int) or cap < 1:
            raise ValueError(f"{what}[{name!r}] must be a positive integer, not {cap!r}")
    return checked


def _retention(policy: Mapping[WorkflowStatus | str, timedelta] | None) -> dict[str, float]:
    checked: dict[str, float] = {}
    for status, age in (policy or {}).items():
        value = WorkflowStatus(status.upper() if isinstance(status, str) else status)
        if not value.is_terminal:
            raise ValueError(f"retention applies to finished statuses only, not {value.value}")
        if age < timedelta(0):
            raise ValueError("a retention age must not be negative")
        checked[value.value] = age.total_seconds()
    return checked


def _default_activity_concurrency() -> int:
    return max(16, (os.cpu_count() or 1) * 8)


class WorkflowRuntime(Registration):
    """Hosts workflows and activities and runs them against a store.

    ``store`` is a URL (``sqlite:///path.db``, ``postgresql://...``, ``memory://``)
    or a store object; by default the SQLite file ``outlast.db`` in the working
    directory, or ``$OUTLAST_STORE``.

    ``max_concurrent_activities`` caps activities running at once on this runtime;
    ``activity_limits={"process_item": 10}`` caps one activity by name (the rest
    wait, in order). ``workflow_limits={"import_batch": 5}`` caps how many instances
    of a workflow run at once on this runtime; further starts wait as PENDING.
    ``retention={WorkflowStatus.COMPLETED: timedelta(days=7)}`` purges instances
    that finished with that status longer ago than that. ``max_payload_bytes``
    (default 4 MiB, or ``$OUTLAST_MAX_PAYLOAD_BYTES``) refuses larger inputs and
    results where they enter, with ``PayloadTooLargeError``.

    The runtime logs starts, completions, failures, retries and stalls (loggers
    under ``outlast.``, docs/observability.md); ``log_payloads=True`` adds inputs and
    outputs to those records. With ``opentelemetry-api`` installed
    (``outlast[otel]``), runs and activity attempts are spans of the global tracer
    provider, or of ``tracer_provider``.
    """

    def __init__(
        self,
        store: str | Store | None = None,
        *,
        max_concurrent_workflows: int = 1000,
        max_concurrent_activities: int | None = None,
        clock: Clock | None = None,
        lease_seconds: float = 30.0,
        poll_interval: float = 0.25,
        cache_size: int = 10_000,
        activity_limits: Mapping[str, int] | None = None,
        workflow_limits: Mapping[str, int] | None = None,
        retention: Mapping[WorkflowStatus | str, timedelta] | None = None,
        max_payload_bytes: int | None = None,
        deadlock_timeout: float | None = 2.0,
        max_child_depth: int = DEFAULT_MAX_CHILD_DEPTH,
        activity_processes: int | None = None,
        log_payloads: bool = False,
        tracer_provider: Any = None,
    ) -> None:
        if max_concurrent_workflows < 1:
            raise ValueError("max_concurrent_workflows must be at least 1")
        activities = (
            _default_activity_concurrency()
            if max_concurrent_activities is None
            else max_concurrent_activities
        )
        if activities < 1:
            raise ValueError("max_concurrent_activities must be at least 1")
        if deadlock_timeout is not None and deadlock_timeout <= 0:
            raise ValueError("deadlock_timeout must be positive (or None to turn it off)")
        if max_child_depth < 1:
            raise ValueError("max_child_depth must be at least 1")
        processes = (
            min(activities, max(2, os.cpu_count() or 1))
            if activity_processes is None
            else activity_processes
        )
        if processes < 1:
            raise ValueError("activity_processes must be at least 1")
        self._store_arg = store
        self._store: Store | None = None
        self._registry = Registry()
        self._clock = clock or SYSTEM_CLOCK
        self._options = WorkerOptions(
            max_concurrent_workflows=max_concurrent_workflows,
            max_concurrent_activities=activities,
            lease_seconds=lease_seconds,
            poll_interval=poll_interval,
            cache_size=cache_size,
            activity_limits=_limits(activity_limits, "activity_limits"),
            workflow_limits=_limits(workflow_limits, "workflow_limits"),
            retention=_retention(retention),
            max_payload_bytes=max_payload_bytes or default_max_payload_bytes(),
            deadlock_timeout=deadlock_timeout,
            max_child_depth=max_child_depth,
            activity_processes=processes,
            log_payloads=log_payloads,
            tracer_provider=tracer_provider,
        )
        self._remote: tuple[TurnExecutor | None, ActivityDispatcher | None] = (None, None)
        self._worker: Worker | None = None
        # what /metrics reports of this runtime (kept across restarts)
        self.stats = RuntimeStats()
        # schedules: those declared with @runtime.schedule, and the thread firing ticks
        self._schedules = ScheduleDeclarations()
        self._scheduler: Scheduler | None = None

    def copy(
        self, store: str | Store | None = None, *, clock: Clock | None = None
    ) -> WorkflowRuntime:
        """A runtime with this one's workflows, activities, schedules and options,
        on another ``store`` and ``clock`` (a test environment runs an app's runtime
        this way). Its registry is a copy: changing it leaves this one as it is."""
        other = WorkflowRuntime(store, clock=clock or self._clock)
        other._registry = self._registry.copy()
        other._options = dataclasses.replace(self._options)
        other._schedules = ScheduleDeclarations(dict(self._schedules.declared))
        other._remote = self._remote
        return other

    def _knows(self, name: str) -> bool:
        remote = self._remote[0]
        return name in self._registry.workflows or (remote is not None and remote.runs(name))

    @property
    def registry(self) -> Registry:
        return self._registry

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self._store_arg)
        return self._store

    def client(self) -> WorkflowClient:
        """A client on this runtime's store, clock and payload limit."""
        return WorkflowClient(
            self.store, clock=self._clock, max_payload_bytes=self._options.max_payload_bytes
        )

    def async_client(self) -> AsyncWorkflowClient:
        """An asyncio client (``outlast.aio.WorkflowClient``) on this runtime's
        store, clock and payload limit."""
        from outlast.client.aio import WorkflowClient as AsyncClient  # loads asyncio

        return AsyncClient(
            self.store, clock=self._clock, max_payload_bytes=self._options.max_payload_bytes
        )

    def attach(
        self,
        executor: TurnExecutor | None = None,
        activities: ActivityDispatcher | None = None,
    ) -> None:
        """Run the workflows and activities that this runtime's registry does not
        know through ``executor`` and ``activities`` (connected SDK workers: see
        ``outlast.grpc``). Takes effect now, or when the runtime starts."""
        self._remote = (executor, activities)
        if self._worker is not None:
            self._worker.attach(executor, activities)

    @property
    def worker(self) -> Worker | None:
        """The running worker, if the runtime runs."""
        return self._worker

    @property
    def scheduler(self) -> Scheduler | None:
        """The thread firing schedules' ticks while the runtime runs (tests call its
        ``wait_for_pass()`` after advancing a test clock)."""
        return self._scheduler

    @property
    def is_running(self) -> bool:
        return self._worker is not None

    def health(self) -> dict[str, Any]:
        """A small report for health probes: ``{"healthy": bool, "status": str}``,
        plus ``"reason"`` when not healthy. ``status`` is ``running``, ``stopped``
        (never started, or shut down) or ``failed`` (the worker loop ended on its
        own: no instance makes progress until the runtime is restarted)."""
        worker = self._worker
        if worker is None:
            return {
                "healthy": False,
                "status": "stopped",
                "reason": "the workflow runtime is not running",
            }
        if not worker.is_alive:
            return {
                "healthy": False,
                "status": "failed",
                "reason": "the worker loop has stopped (its thread ended; see the log); "
                "restart the runtime",
            }
        return {"healthy": True, "status": "running"}

    # --- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        if self._worker is not None:
            raise InvalidStateError("the runtime is already running")
        for name in self._options.flow_limits:
            if name in self._registry.workflows and name in self._registry.activities:
                raise ValueError(
                    f"runtime.limit({name!r}): {name!r} names both a workflow and an "
                    "activity; register one of them under another name"
                )
        store = self.store
        worker = Worker(store, self._registry, self._clock, self._options, self.stats)
        worker.attach(*self._remote)
        catalog.add(store, self._knows)
        worker.start()
        self._worker = worker
        # schedules: fire due ticks (and create the declared schedules) from here on
        declared = list(self._schedules.declared.values())
        self._scheduler = Scheduler(store, self._clock, self.client(), declared)
        try:
            self._scheduler.start()
        except BaseException:
            self.shutdown()
            raise

    def shutdown(self) -> None:
        """Stop taking work, let running activities finish, release ownership."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        scheduler, self._scheduler = self._scheduler, None  # schedules: stop firing first
        if scheduler is not None:
            scheduler.stop()
        try:
            worker.stop()
        finally:
            catalog.remove(self.store, self._knows)

    def run_forever(self) -> None:
        """Run until SIGINT or SIGTERM, then shut down cleanly: what a worker-only
        process (``outlast worker APP``) does. Call it from the main thread."""
        hosting.run_forever(self)

    def lifespan(self, app: object = None) -> AbstractAsyncContextManager[None]:
        """Run the runtime for an ASGI app's lifetime, in one line::

            app = Starlette(routes=..., lifespan=runtime.lifespan)
            app = FastAPI(lifespan=runtime.lifespan)

        In an app with a lifespan of its own, enter it there:
        ``async with runtime.lifespan(app): yield``."""
        return hosting.lifespan(self)

    def __enter__(self) -> WorkflowRuntime:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()
