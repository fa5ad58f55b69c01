"""Hosting a runtime: inside an ASGI app's lifespan, or as the whole process until
a signal (worker-only processes)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import AsyncIterator, Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from outlast.runtime.runtime import WorkflowRuntime


@contextlib.asynccontextmanager
async def lifespan(runtime: WorkflowRuntime) -> AsyncIterator[None]:
    """Run ``runtime`` while the block runs. Starting and stopping happen in a
    thread, so the event loop keeps serving while running activities finish."""
    import asyncio  # here, not at the top: ``import outlast`` stays light

    await asyncio.to_thread(runtime.start)
    try:
        yield
    finally:
        await asyncio.to_thread(runtime.shutdown)


class _StopOnSignal:
    """SIGINT/SIGTERM set ``stop``; a second SIGINT raises KeyboardInterrupt, which
    stops waiting for running activities (they run again on the next start)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopOnSignal:
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError(
                "run_forever() waits for SIGINT/SIGTERM, which only the main thread "
                "receives; elsewhere call start() and shutdown() yourself"
            )
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, sig: int, frame: FrameType | None) -> None:
        if self.stop.is_set() and sig == signal.SIGINT:
            raise KeyboardInterrupt
        self.stop.set()


def run_forever(runtime: WorkflowRuntime, on_ready: Callable[[], None] | None = None) -> None:
    """Start ``runtime`` (unless it runs already), block until SIGINT or SIGTERM,
    then shut it down: no new work is taken, running activities finish and are
    committed, and the instances it owned are released for other workers."""
    with _StopOnSignal() as signals:
        if not runtime.is_running:
            runtime.start()
        try:
            if on_ready is not None:
                on_ready()
            signals.stop.wait()
        finally:
            runtime.shutdown()
