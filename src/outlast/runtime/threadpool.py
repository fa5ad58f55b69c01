"""A lean thread pool for sync activities.

``concurrent.futures.ThreadPoolExecutor`` builds a Future (with its own Condition)
per call and checks for idle threads through a semaphore; on the one-step-at-a-time
path of a workflow that is a measurable share of each step. Activities report
through a callback, so this pool needs none of that: a queue, lazily started
threads, and a shutdown that lets running calls finish and drops queued ones.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

log = logging.getLogger("outlast.threadpool")


class ThreadPool:
    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._busy = 0  # submitted and not yet finished
        self._closing = False
        # A call submitted from a pool thread runs next on that same thread: the
        # common "an activity's result schedules the next activity" step then needs
        # no thread wake-up at all.
        self._here = threading.local()

    def submit(self, fn: Callable[[], None]) -> None:
        here = self._here
        if getattr(here, "pool", None) is self and here.next is None:
            with self._lock:
                if self._closing:
                    return
                self._busy += 1
            here.next = fn
            return
        with self._lock:
            if self._closing:
                return
            self._busy += 1
            if self._busy > len(self._threads) and len(self._threads) < self._size:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}_{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
        self._queue.put(fn)

    def _work(self) -> None:
        here = self._here
        here.pool, here.next = self, None
        while (fn := self._queue.get()) is not None:
            while fn is not None:
                try:
                    if not self._closing:
                        fn()
                except BaseException:
                    # A call must not take its thread down with it: the pool would
                    # shrink by one for good.
                    log.exception("a call on %s raised; the thread carries on", self._name)
                finally:
                    with self._lock:
                        self._busy -= 1
                fn, here.next = here.next, None

    def shutdown(self, timeout: float) -> None:
        """Drop what has not started; give running calls up to ``timeout`` to end."""
        with self._lock:
            self._closing = True
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
