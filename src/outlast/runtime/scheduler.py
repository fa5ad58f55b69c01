"""The scheduler: a runtime's thread that fires the schedules' due ticks.

Every runtime on a store runs one; they need no coordination beyond the store:
a fire moves the schedule's cursor only at the version it read, in the same
transaction that creates the tick's instance (``Store.fire_schedule``), and a
tick's instance ID is fixed by its time, so each tick starts once however many
runtimes fire it. Time comes from the runtime's ``Clock``: with a test clock, an
``advance()`` wakes the thread and the due ticks fire at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from outlast.client.client import WorkflowClient
from outlast.client.schedule_fire import fire_due
from outlast.client.schedule_spec import build_spec
from outlast.clock import Clock
from outlast.core.registry import Registry, name_of
from outlast.core.schedule import ScheduleSpec, validate_schedule_id
from outlast.store import Store

log = logging.getLogger("outlast.scheduler")

F = TypeVar("F", bound=Callable[..., Any])

# The longest the thread sleeps: schedules created, resumed or changed by other
# processes, and runs that end while a tick is buffered, are seen within this.
POLL_SECONDS = 1.0
_DUE_BATCH = 100


@dataclass(frozen=True)
class DeclaredSchedule:
    """A schedule declared in code with ``@runtime.schedule``."""

    schedule_id: str
    workflow: str
    spec: ScheduleSpec
    input: Any = None


@dataclass
class ScheduleDeclarations:
    """The ``@runtime.schedule`` decorator's bookkeeping (part of ``WorkflowRuntime``)."""

    declared: dict[str, DeclaredSchedule] = field(default_factory=dict)

    def declare(self, registry: Registry, fn: F, schedule_id: str | None, **spec: Any) -> F:
        """Record a schedule for workflow ``fn`` (registered as one if it is not
        yet); the arguments are checked now, so a bad cron fails at import."""
        input = spec.pop("input", None)
        built = build_spec(**spec)
        name = name_of(fn)
        if name not in registry.workflows or registry.workflows[name].fn is not fn:
            registry.add_workflow(fn, None, None)
            name = name_of(fn)
        sid = validate_schedule_id(schedule_id or name)
        if sid in self.declared:
            raise ValueError(f"schedule {sid!r} is declared twice")
        self.declared[sid] = DeclaredSchedule(sid, name, built, input)
        return fn


class Scheduler:
    """Fires due ticks of every schedule in the store, from its own thread."""

    def __init__(
        self, store: Store, clock: Clock, client: WorkflowClient, declared: list[DeclaredSchedule]
    ) -> None:
        self.store = store
        self.clock = clock
        self.client = client
        self.declared = declared
        self._cv = threading.Condition()
        self._woken = False
        self._stopping = False
        self._begun = 0  # passes begun
        self._passes = 0  # passes finished
        self._thread: threading.Thread | None = None
        self._failing: dict[str, str] = {}  # schedule ID -> the error last logged

    def start(self) -> None:
        """Create or update the declared schedules, then start the thread."""
        for d in self.declared:
            self.client.put_schedule(d.schedule_id, d.workflow, d.spec, input=d.input)
        self.clock.add_listener(self.wake)
        self._thread = threading.Thread(target=self._run, name="outlast-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join()

    def wake(self) -> None:
        """Look for due ticks now (the clock jumped, or a schedule changed)."""
        with self._cv:
            self._woken = True
            self._cv.notify_all()

    def wait_for_pass(self, timeout: float = 10.0) -> bool:
        """Wait until a pass that began after this call has finished: every tick
        due by the clock's time now has then been fired. For tests; False if the
        time ran out."""
        with self._cv:
            target = self._begun + 1  # one under way may have read an older time
            self._woken = True
            self._cv.notify_all()
            return self._cv.wait_for(lambda: self._passes >= target or self._stopping, timeout)

    # --- the loop ----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cv:
                self._begun += 1
            busy = False
            try:
                busy = self.run_pass()
            except Exception:
                log.exception("schedule pass failed; trying again")
            with self._cv:
                self._passes += 1
                self._cv.notify_all()
            if not busy:
                self._sleep(self._sleep_seconds())
            with self._cv:
                if self._stopping:
                    return

    def _sleep(self, seconds: float) -> None:
        with self._cv:
            if not (self._woken or self._stopping):
                self._cv.wait(seconds)
            self._woken = False

    def _sleep_seconds(self) -> float:
        try:
            due = self.store.next_schedule_due()
        except Exception:
            log.exception("cannot read when the next schedule is due")
            return POLL_SECONDS
        now = self.clock.now()
        if due is None or due <= now:
            return POLL_SECONDS  # due but not fired: it is failing, or another's
        return min(POLL_SECONDS, due - now)

    def run_pass(self) -> bool:
        """Fire every due schedule once; True if it started anything (more may be
        due: a long catch-up goes a hundred ticks a transaction)."""
        now = self.clock.now()
        started = False
        for record in self.store.due_schedules(now, _DUE_BATCH):
            try:
                created = fire_due(self.store, record, now)
            except Exception as e:
                # One broken schedule (a corrupt row, say) must not stop the others;
                # it is logged once per distinct error, not at every pass.
                if self._failing.get(record.schedule_id) != str(e):
                    self._failing[record.schedule_id] = str(e)
                    log.exception("schedule %s cannot fire", record.schedule_id)
                continue
            self._failing.pop(record.schedule_id, None)
            started = started or bool(created)
        return started
