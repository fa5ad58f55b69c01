"""``WorkflowTestEnvironment``: a runtime on a store of its own, with time that skips.

A test starts workflows on ``env.client`` and waits for them; while it waits for
an instance to finish, and every instance has nothing left to do but wait for a
timer, the environment's clock jumps to the next due timer. A 2-day approval
timeout then completes in milliseconds, with no ``advance()`` to time right.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from outlast.client.client import WorkflowClient
from outlast.client.state import WorkflowState
from outlast.client.waits import FINISHED
from outlast.core.registry import name_of
from outlast.runtime.runtime import WorkflowRuntime
from outlast.store import Store, open_store
from outlast.testing.clock import FakeClock

# How often the skipper looks while a test waits, and how long the engine must
# look idle (at two looks, the store unchanged between them) before time jumps.
_LOOK_SECONDS = 0.001


class _SkippingClient(WorkflowClient):
    """``WorkflowClient`` whose waits for completion let the environment skip time."""

    def __init__(self, env: WorkflowTestEnvironment) -> None:
        runtime = env.runtime
        super().__init__(runtime.store, clock=env.clock)
        self._env = env

    def _wait(
        self, instance_id: str, until: frozenset[str], timeout: float, fetch_payloads: bool
    ) -> WorkflowState | None:
        if until is not FINISHED:
            return super()._wait(instance_id, until, timeout, fetch_payloads)
        with self._env.skipping_time():
            return super()._wait(instance_id, until, timeout, fetch_payloads)


class WorkflowTestEnvironment:
    """A runtime and a client on an isolated store and a test clock::

        with WorkflowTestEnvironment() as env:
            env.runtime.register_workflow(approval)
            iid = env.client.schedule_new_workflow(approval, input=order)
            state = env.client.wait_for_workflow_completion(iid)  # 2 days pass at once

    ``runtime``: an existing runtime (an app's), whose workflows, activities and
    options are used on the environment's store and clock; the runtime itself is
    left as it is (not started, its registry unchanged). ``store``: ``"memory"``
    (a new in-memory store, the default) or ``"sqlite"`` (a temporary SQLite file,
    deleted afterwards), or a store object. ``activities``: fakes, by activity
    (function or name), as :meth:`replace_activity` takes them.

    ``time_skipping`` (on by default): while ``env.client`` waits for an instance
    to finish (or inside ``with env.skipping_time():``) and nothing is left to do
    but wait for timers (no activity running, no event to handle), the clock
    jumps to the next timer due. Outside a wait time stands still, so a test can
    raise an event before a timeout without racing it. ``advance()`` moves time by
    hand.
    """

    def __init__(
        self,
        runtime: WorkflowRuntime | None = None,
        *,
        store: str | Store = "memory",
        start: datetime | None = None,
        time_skipping: bool = True,
        activities: Mapping[Callable[..., Any] | str, Callable[..., Any]] | None = None,
    ) -> None:
        self.clock = FakeClock(start)
        self._tmpdir: str | None = None
        if isinstance(store, Store):
            opened = store
        elif store == "memory":
            opened = open_store("memory://")
        elif store == "sqlite":
            self._tmpdir = tempfile.mkdtemp(prefix="outlast-test-")
            opened = open_store(f"sqlite:///{self._tmpdir}/outlast.db")
        else:
            raise ValueError(
                f"store must be 'memory', 'sqlite' or a store object, not {store!r} "
                "(a URL would share state between tests)"
            )
        if runtime is None:
            self.runtime = WorkflowRuntime(opened, clock=self.clock)
        else:
            self.runtime = runtime.copy(opened, clock=self.clock)
        self._time_skipping = time_skipping
        self._skipping = 0
        self._skip_cv = threading.Condition()
        self._skipper: threading.Thread | None = None
        self._closed = False
        self._client: _SkippingClient | None = None
        for activity, fake in (activities or {}).items():
            self.replace_activity(activity, fake)

    # --- what a test uses ------------------------------------------------------------

    @property
    def client(self) -> WorkflowClient:
        """A client on the environment's store and clock; its
        ``wait_for_workflow_completion`` skips time (see the class)."""
        if self._client is None:
            self._client = _SkippingClient(self)
        return self._client

    @property
    def store(self) -> Store:
        return self.runtime.store

    def replace_activity(
        self, activity: Callable[..., Any] | str, fake: Callable[..., Any]
    ) -> None:
        """Run ``fake`` (``def fake(ctx, input)``, or ``async def``) wherever the
        registered activity ``activity`` is called, in this environment only; the
        original's type hints still decode the input when the fake has none."""
        self.runtime.registry.replace_activity(name_of(activity), fake)

    def now(self) -> datetime:
        """The environment's time (where workflows' ``current_utc_datetime`` comes from)."""
        return self.clock.utcnow()

    def advance(self, delta: timedelta | float, *, settle_timeout: float = 10.0) -> None:
        """Move time forward by ``delta``, after the engine has done what it can
        now (so a timer that the workflow is about to create exists first), and
        then wait until it has handled what fell due."""
        self.settle(settle_timeout)
        self.clock.advance(delta)
        self.settle(settle_timeout)

    def settle(self, timeout: float = 10.0) -> bool:
        """Wait (up to ``timeout`` seconds) until nothing is left to do without
        time passing; True if so."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._quiet():
                return True
            time.sleep(_LOOK_SECONDS)
        return False

    @contextmanager
    def skipping_time(self) -> Iterator[None]:
        """Skip time while the block runs (waits on another client, an HTTP call)."""
        if not self._time_skipping:
            yield
            return
        with self._skip_cv:
            self._skipping += 1
            self._skip_cv.notify_all()
        try:
            yield
        finally:
            with self._skip_cv:
                self._skipping -= 1

    # --- lifecycle ------------------------------------------------------------------

    def __enter__(self) -> WorkflowTestEnvironment:
        self.runtime.start()
        if self._time_skipping:
            self._skipper = threading.Thread(
                target=self._skip_loop, name="outlast-test-time", daemon=True
            )
            self._skipper.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the runtime, close the store, delete a temporary SQLite file."""
        with self._skip_cv:
            self._closed = True
            self._skip_cv.notify_all()
        if self._skipper is not None:
            self._skipper.join(5)
        try:
            self.runtime.shutdown()
        finally:
            self.runtime.store.close()
            if self._tmpdir is not None:
                shutil.rmtree(self._tmpdir, ignore_errors=True)

    # --- skipping -------------------------------------------------------------------

    def _quiet(self) -> bool:
        """The engine is idle, twice in a row with nothing committed in between."""
        worker = self.runtime.worker
        if worker is None:
            return True
        store = self.runtime.store
        seen = store.version
        if not worker.is_idle:
            return False
        time.sleep(_LOOK_SECONDS)
        return worker.is_idle and store.version == seen

    def _skip_loop(self) -> None:
        while True:
            with self._skip_cv:
                while not self._skipping and not self._closed:
                    self._skip_cv.wait()
                if self._closed:
                    return
            if not self._quiet():
                time.sleep(_LOOK_SECONDS)
                continue
            worker = self.runtime.worker
            if worker is None:
                time.sleep(_LOOK_SECONDS)
                continue
            due = self.runtime.store.next_visible_at(worker.worker_id, self.clock.now())
            if due is None:
                time.sleep(_LOOK_SECONDS)  # nothing scheduled: only the test can act
                continue
            self.clock.advance_to(due)
