"""Waiting without a thread per waiter.

Each waiting coroutine sleeps on an ``asyncio.Event``. The store's in-process
change signal sets it (``Store.on_change``, from the committing thread, through
``call_soon_threadsafe``); on PostgreSQL the LISTEN/NOTIFY listener signals the
commits of other processes the same way. For the changes a store cannot signal
(another process writing the same SQLite file) one ticker per event loop wakes
every sleeper at the store's poll interval.

Waking many waiters at once must not cost a thread hop each: reads go in
batches, one at a time, each in one worker thread (the store drivers are
synchronous); the reads asked for while a batch runs make up the next.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from outlast.store import Store
from outlast.store.base import InstanceRecord


def _read_all(store: Store, instance_ids: list[str]) -> dict[str, InstanceRecord | None]:
    return {iid: store.get_instance(iid) for iid in instance_ids}


class WaitHub:
    """The reads and sleeps of one event loop's waiters on one store."""

    def __init__(self, store: Store, poll_seconds: float) -> None:
        self._store = store
        self._poll = poll_seconds
        self._loop = asyncio.get_running_loop()
        self._reads: dict[str, asyncio.Future[InstanceRecord | None]] = {}
        self._flush: asyncio.Handle | None = None
        self._batch: asyncio.Task[None] | None = None
        self._sleepers: set[asyncio.Event] = set()
        self._ticker: asyncio.Task[None] | None = None

    # --- reading ---------------------------------------------------------------------

    async def read(self, instance_id: str) -> InstanceRecord | None:
        """The instance's record, read in the next batch."""
        future = self._reads.get(instance_id)
        if future is None:
            future = self._reads[instance_id] = self._loop.create_future()
            self._schedule()
        # Shielded: a waiter that is cancelled must not cancel the others' read.
        return await asyncio.shield(future)

    def _schedule(self) -> None:
        # One batch at a time: reads asked for meanwhile wait for the next one, so
        # waiters never hold more than one thread between them, however many.
        if self._flush is None and self._batch is None:
            self._flush = self._loop.call_soon(self._start_batch)

    def _start_batch(self) -> None:
        self._flush = None
        batch, self._reads = self._reads, {}
        self._batch = self._loop.create_task(self._read_batch(batch))
        self._batch.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._batch = None
        if self._reads:
            self._schedule()

    async def _read_batch(self, batch: dict[str, asyncio.Future[InstanceRecord | None]]) -> None:
        try:
            records = await asyncio.to_thread(_read_all, self._store, list(batch))
        except asyncio.CancelledError:
            for future in batch.values():
                future.cancel()
            raise
        except Exception as e:
            for future in batch.values():
                if not future.done():
                    future.set_exception(e)
            return
        for iid, future in batch.items():
            if not future.done():
                future.set_result(records[iid])

    # --- sleeping --------------------------------------------------------------------

    def waker(self, event: asyncio.Event) -> Callable[[], None]:
        """A function any thread may call to set ``event`` (a store's watcher)."""
        loop = self._loop

        def wake() -> None:
            # RuntimeError: the loop has closed, and nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)

        return wake

    async def sleep(self, woken: asyncio.Event, timeout: float) -> None:
        """Until ``woken`` is set, the next poll tick, or ``timeout`` seconds."""
        self._sleepers.add(woken)
        if self._ticker is None:
            self._ticker = self._loop.create_task(self._tick())
        try:
            async with asyncio.timeout(timeout):
                await woken.wait()
        except TimeoutError:
            pass
        finally:
            self._sleepers.discard(woken)
            if not self._sleepers and self._ticker is not None:
                # Nobody left to wake: no task outlives the waits.
                self._ticker.cancel()
                self._ticker = None

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._poll)
            for event in list(self._sleepers):
                event.set()
