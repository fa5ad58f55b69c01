"""Runs activities: sync ones on a thread pool, async ones on an event-loop thread,
``isolation="process"`` ones in child processes (``procpool.py``)."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from outlast.core.context import ActivityContext
from outlast.core.registry import Definition, Registry
from outlast.core.serialization import encode_payload
from outlast.errors import ActivityTimeoutError, FailureDetails, UnknownActivityError
from outlast.runtime.heartbeats import CallOptions, HeartbeatWatch
from outlast.runtime.logs import activity_outcome
from outlast.runtime.procpool import ProcessPool
from outlast.runtime.stats import RuntimeStats
from outlast.runtime.threadpool import ThreadPool
from outlast.store.base import ActivityRecord

if TYPE_CHECKING:
    import asyncio

    from outlast.runtime.tracing import ActivitySpan, Tracing


@dataclass(slots=True)
class ActivityResult:
    instance_id: str
    execution_id: str
    task_id: int
    result: str | None = None
    failure: FailureDetails | None = None


class ActivityExecutor:
    def __init__(
        self,
        registry: Registry,
        max_concurrent: int,
        on_result: Callable[[ActivityResult, bool], None],
        limits: Mapping[str, int] | None = None,
        max_payload_bytes: int | None = None,
        stats: RuntimeStats | None = None,
        processes: int = 2,
    ) -> None:
        self._max_payload = max_payload_bytes
        self._stats = stats or RuntimeStats()
        self._registry = registry
        self._max = max_concurrent
        # Per-name caps: activities over a cap wait here, in order, for a slot.
        self._limits = dict(limits or {})
        self._running: dict[str, int] = {}
        self._waiting: dict[str, deque[ActivityRecord]] = {}
        self._on_result = on_result
        self._pool = ThreadPool(max_concurrent, "outlast-activity")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._async_slots: asyncio.Semaphore | None = None
        self._async_running: set[Future[Any]] = set()
        self._lock = threading.Lock()
        # Started by the first call with a heartbeat or start_to_close timeout.
        self._watch: HeartbeatWatch | None = None
        # Child processes for isolation="process" activities; None if there are none.
        self._processes = ProcessPool.for_registry(registry, processes)
        self.tracing: Tracing | None = None  # spans of attempts (set by the worker)

    def submit(self, record: ActivityRecord) -> None:
        limit = self._limits.get(record.name)
        if limit is not None:
            with self._lock:
                if self._running.get(record.name, 0) >= limit:
                    self._waiting.setdefault(record.name, deque()).append(record)
                    return
                self._running[record.name] = self._running.get(record.name, 0) + 1
        self._start(record)

    def _finished(self, name: str) -> None:
        if name not in self._limits:
            return
        with self._lock:
            queue = self._waiting.get(name)
            if queue:
                following: ActivityRecord | None = queue.popleft()
            else:
                following = None
                self._running[name] -= 1
        if following is not None:
            self._start(following)

    def _report(self, outcome: ActivityResult, name: str, inline: bool = False) -> None:
        """Hand a result over; ``inline`` when this thread may run the worker's next
        round itself (a pool thread, not the event loop nor the worker)."""
        watch = self._watch
        if watch is not None and not watch.finished(outcome.instance_id, outcome.task_id):
            return  # already failed for a missed heartbeat: a late outcome is dropped
        self._finished(name)
        self._on_result(outcome, inline)

    def _missed_heartbeat(self, record: ActivityRecord, ctx: ActivityContext) -> None:
        options = CallOptions.parse(record.options)
        error = ActivityTimeoutError(
            f"activity {record.name!r} sent no heartbeat for "
            f"{options.heartbeat_timeout:g}s (its heartbeat_timeout)",
            FailureDetails("ActivityTimeoutError", "missed heartbeat"),
        )
        outcome = _failed(record, error, ctx)
        self._ended(record, outcome, None)
        self._finished(record.name)
        self._on_result(outcome, False)

    def _start(self, record: ActivityRecord) -> None:
        definition = self._registry.activities.get(record.name)
        if definition is None:
            error = UnknownActivityError(
                f"no activity named {record.name!r} is registered on this runtime"
            )
            self._report(_failed(record, error), record.name)
            return
        if record.options is None:
            ctx = ActivityContext(record.instance_id, record.task_id, record.name, record.attempt)
        else:
            options = CallOptions.parse(record.options)
            ctx = ActivityContext(
                record.instance_id,
                record.task_id,
                record.name,
                record.attempt,
                options.heartbeat_details,
            )
            if options.heartbeat_timeout or options.start_to_close_timeout:
                if self._watch is None:
                    self._watch = HeartbeatWatch(self._missed_heartbeat)
                self._watch.watch(record, ctx, options)
        if definition.isolation == "process" and self._processes is not None:
            self._pool.submit(lambda: self._run_isolated(definition, record, ctx))
            return
        if not definition.is_async:
            self._pool.submit(lambda: self._run_sync(definition, record, ctx))
            return
        # asyncio (and the ssl module it loads) only once an async activity runs.
        import asyncio

        future = asyncio.run_coroutine_threadsafe(
            self._run_async(definition, record, ctx), self._event_loop()
        )
        with self._lock:
            self._async_running.add(future)
        future.add_done_callback(self._forget)
        if self._watch is not None:
            self._watch.on_cancel(record, future.cancel)

    def _forget(self, future: Future[Any]) -> None:
        with self._lock:
            self._async_running.discard(future)

    def _run_sync(self, d: Definition, record: ActivityRecord, ctx: ActivityContext) -> None:
        started = time.perf_counter()
        span = self._open_span(record)
        try:
            args = d.arguments(ctx, record.input)
            outcome = _succeeded(record, self._encode(d.fn(*args), record))
        except BaseException as e:
            # Whatever the activity raises (SystemExit included) fails that activity
            # only; the thread lives on to run the next one.
            outcome = _failed(record, e, ctx)
        self._done(record, outcome, span, started, inline=True)

    def _run_isolated(self, d: Definition, record: ActivityRecord, ctx: ActivityContext) -> None:
        assert self._processes is not None
        started = time.perf_counter()
        span = self._open_span(record)
        try:
            done = self._processes.run(d, record, ctx, self._max_payload)
        except BaseException as e:  # the process could not be started, say
            outcome = _failed(record, e, ctx)
        else:
            if done is None:  # the pool shut down under it: it runs again on the next start
                self._close_span(span, None)
                return
            outcome = (
                _succeeded(record, done[0]) if done[1] is None else _failed(record, done[1], ctx)
            )
        self._done(record, outcome, span, started, inline=True)

    def cancel_instance(self, instance_id: str) -> None:
        """The workflow ``instance_id`` ended (terminated, say): cancel its isolated
        attempts running here, which kills them (a thread cannot be stopped)."""
        if self._processes is not None:
            self._processes.cancel_instance(instance_id)

    def isolated_instances(self) -> set[str]:
        """The workflows whose process-isolated attempts run here now."""
        return set() if self._processes is None else self._processes.instances()

    async def _run_async(self, d: Definition, record: ActivityRecord, ctx: ActivityContext) -> None:
        import asyncio  # loaded already: this runs on its loop

        if self._async_slots is None:
            self._async_slots = asyncio.Semaphore(self._max)
        started = time.perf_counter()
        span: ActivitySpan | None = None
        try:
            async with self._async_slots:
                started = time.perf_counter()
                span = self._open_span(record)
                try:
                    args = d.arguments(ctx, record.input)
                    outcome = _succeeded(record, self._encode(await d.fn(*args), record))
                except (Exception, SystemExit, KeyboardInterrupt) as e:
                    outcome = _failed(record, e, ctx)
        except asyncio.CancelledError:
            if not ctx.is_cancelled:
                # Not by the heartbeat watch (a shutdown): not an outcome, the
                # activity runs again.
                self._close_span(span, None)
                raise
            # Cancelled at its timeout: it still ends, or its row would stay in the
            # store and its place under a per-name cap would stay taken.
            message = f"activity {record.name!r} was cancelled at its timeout"
            error = ActivityTimeoutError(message, FailureDetails("ActivityTimeoutError", message))
            outcome = _failed(record, error, ctx)
        except BaseException:
            self._close_span(span, None)
            raise
        self._done(record, outcome, span, started)

    def _done(
        self,
        record: ActivityRecord,
        outcome: ActivityResult,
        span: ActivitySpan | None,
        started: float,
        inline: bool = False,
    ) -> None:
        """An attempt that ran here ended: count it, log it, close its span and
        hand its outcome over."""
        self._stats.activity(record.name, outcome.failure is None, time.perf_counter() - started)
        self._ended(record, outcome, span)
        self._report(outcome, record.name, inline)

    def _ended(
        self, record: ActivityRecord, outcome: ActivityResult, span: ActivitySpan | None
    ) -> None:
        """Log the attempt's end and close its span."""
        activity_outcome(
            record.instance_id, record.name, record.task_id, record.attempt, outcome.failure
        )
        self._close_span(span, outcome.failure)

    def _open_span(self, record: ActivityRecord) -> ActivitySpan | None:
        return None if self.tracing is None else self.tracing.activity_started(record)

    def _close_span(self, span: ActivitySpan | None, failure: FailureDetails | None) -> None:
        if span is not None and self.tracing is not None:
            self.tracing.activity_ended(span, failure)

    def _encode(self, value: Any, record: ActivityRecord) -> str | None:
        return encode_payload(value, self._max_payload, "the result of activity {}", record.name)

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                import asyncio

                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="outlast-async-activities", daemon=True
                )
                thread.start()
                self._loop, self._loop_thread = loop, thread
            return self._loop

    def shutdown(self, timeout: float) -> None:
        """Let running activities finish (up to ``timeout``); drop queued ones (they
        are still in the store and run again on the next start)."""
        self._pool.shutdown(timeout)
        if self._processes is not None:
            self._processes.shutdown()  # what still runs in a child runs again later
        if self._watch is not None:
            self._watch.stop()
        with self._lock:
            pending = list(self._async_running)
        for f in pending:
            with contextlib.suppress(Exception):
                f.result(timeout=timeout)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._loop_thread is not None:
                self._loop_thread.join(timeout)
            if not self._loop.is_running():
                self._loop.close()


def _succeeded(record: ActivityRecord, result: str | None) -> ActivityResult:
    return ActivityResult(record.instance_id, record.execution_id, record.task_id, result)


def _failed(
    record: ActivityRecord,
    exc: BaseException | FailureDetails,
    ctx: ActivityContext | None = None,
) -> ActivityResult:
    failure = exc if isinstance(exc, FailureDetails) else FailureDetails.from_exception(exc)
    if record.attempt > 1:
        # The retry after it is the attempt after this one, restarts counted.
        failure = dataclasses.replace(failure, attempt=record.attempt)
    if ctx is not None and ctx._details is not None:
        # How far the attempt got, for the next one (ctx.heartbeat_details).
        failure = dataclasses.replace(failure, heartbeat_details=ctx._details)
    return ActivityResult(record.instance_id, record.execution_id, record.task_id, failure=failure)
