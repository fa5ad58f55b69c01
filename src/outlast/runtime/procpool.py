"""Activities run in worker processes: ``@runtime.activity(isolation="process")``.

Python cannot kill a thread, so a sync activity that hangs holds its thread until
it returns. An activity registered with ``isolation="process"`` runs instead in
one of a pool of child processes (``multiprocessing``, the ``forkserver`` start
method where there is one, else ``spawn``: never a bare fork of a threaded
worker). The pool thread that would have run the activity sends the job down a
pipe and waits, passing heartbeats on to the attempt's ``ActivityContext`` (so
the heartbeat watch sees them). When the attempt is cancelled (its
``start_to_close_timeout`` passed, it missed its heartbeat, or its workflow was
terminated) the child sees ``ctx.is_cancelled``; if it has not returned
``KILL_GRACE`` seconds later it is killed (SIGKILL) and a fresh process takes its
place on the next call. A child that dies (``os._exit``, a segfault, the OOM
killer) fails its attempt as ``ActivityProcessError``; the retry policy decides.

The child finds the function by its module and qualified name, so it must be a
module-level ``def`` (or ``async def``) of a module the child can import: checked
at registration (no nested functions, lambdas, methods or partials) and when the
runtime starts (the name must lead back to the registered function).
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import logging
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from outlast.core.context import ActivityContext
from outlast.core.registry import Definition, Registry
from outlast.errors import FailureDetails, RegistrationError
from outlast.runtime import procchild
from outlast.runtime.procchild import Job, resolve
from outlast.store.base import ActivityRecord

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.context import BaseContext
    from multiprocessing.process import BaseProcess

log = logging.getLogger("outlast.procpool")

# Seconds a cancelled attempt has to return before its process is killed.
KILL_GRACE = 1.0
# Seconds a child may take to import an activity's module before its heartbeat
# timeout starts counting anyway.
START_ALLOWANCE = 30.0
# How often a waiting pool thread looks at the attempt's cancellation.
_LOOK = 0.1
ISOLATIONS = ("thread", "process")

Outcome = tuple[str | None, FailureDetails | None]


def check_importable(fn: Callable[..., Any], name: str) -> None:
    """Refuse, at registration, a function a child process could not look up."""
    if not inspect.isfunction(fn):
        raise RegistrationError(
            f"activity {name!r} has isolation='process' but is {fn!r}: it must be a "
            "module-level def (or async def) function, which its process imports by "
            "name (not a method, partial, or callable object)"
        )
    if "<locals>" in fn.__qualname__:
        outer = fn.__qualname__.split(".<locals>")[0]
        raise RegistrationError(
            f"activity {name!r} has isolation='process' but is defined inside "
            f"{outer}(): its process imports it by module and name, which only works "
            "for a function at module level; move it out of the function"
        )


def check_resolves(d: Definition) -> None:
    """At start: ``module.qualname`` is the registered function itself."""
    fn = d.fn
    where = f"{fn.__module__}.{fn.__qualname__}"
    main = sys.modules.get("__main__")
    if fn.__module__ == "__main__" and (
        getattr(main, "__file__", None) is None and getattr(main, "__spec__", None) is None
    ):
        raise RegistrationError(
            f"activity {d.name!r} has isolation='process' but is defined in an "
            "interactive session, which a child process cannot import; put it in a module"
        )
    try:
        found = resolve(fn.__module__, fn.__qualname__)
    except Exception as e:
        raise RegistrationError(
            f"activity {d.name!r} has isolation='process' but {where} cannot be imported "
            f"({type(e).__name__}: {e})"
        ) from e
    # @runtime.activity hands back a guard around the function (core.registry).
    if getattr(found, "__outlast_activity__", found) is not fn:
        raise RegistrationError(
            f"activity {d.name!r} has isolation='process' but {where} is not the "
            "registered function (is a decorator applied on top of @runtime.activity? "
            "register the outermost function)"
        )


def _context() -> BaseContext:
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    mp = multiprocessing.get_context("forkserver")
    # The fork server imports the child's code once; each child forked from it
    # then starts in milliseconds rather than importing outlast anew. (This sets
    # the process-wide preload list, whose default is ["__main__"].)
    mp.set_forkserver_preload(["__main__", procchild.__name__])
    return mp


class _Child:
    def __init__(self, mp: BaseContext) -> None:
        ours, theirs = mp.Pipe()
        # Not daemonic: an activity may start processes of its own. Pools kill
        # their children at shutdown and at interpreter exit.
        self.process: BaseProcess = mp.Process(  # type: ignore[attr-defined]
            target=procchild.main, args=(theirs,), name="outlast-activity-process"
        )
        self.process.start()
        theirs.close()  # else our copy would keep the pipe open after the child died
        self.conn: Connection = ours
        self.pid = self.process.pid

    def alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
        self.process.join(5)
        with contextlib.suppress(Exception):
            self.conn.close()

    def ended(self) -> str:
        self.process.join(1)
        code = self.process.exitcode
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                return f"was killed by signal {-code} ({signal.Signals(-code).name})"
        return f"ended with exit code {code}"


_pools: weakref.WeakSet[ProcessPool] = weakref.WeakSet()


@atexit.register
def _kill_all() -> None:
    # Before multiprocessing's own exit handler, which would join hung children.
    for pool in list(_pools):
        pool.shutdown()


class ProcessPool:
    """Up to ``size`` child processes, started when first needed."""

    def __init__(self, size: int, grace: float = KILL_GRACE) -> None:
        self._size = size
        self._grace = grace
        self._mp: BaseContext | None = None
        self._idle: list[_Child] = []
        self._count = 0  # children alive or starting
        self._running: dict[tuple[str, int], tuple[ActivityContext, _Child]] = {}
        self._cond = threading.Condition()
        self._closing = False
        self._warming = False  # the process warm() starts is not up yet
        _pools.add(self)

    @classmethod
    def for_registry(cls, registry: Registry, size: int) -> ProcessPool | None:
        """A pool if any registered activity is isolated (each checked), else None.
        Its first process starts now, in the background."""
        isolated = [d for d in registry.activities.values() if d.isolation == "process"]
        if not isolated:
            return None
        for d in isolated:
            check_resolves(d)
        pool = cls(size)
        pool.warm()
        return pool

    def warm(self) -> None:
        """Start a process ahead of the first attempt, on a thread of its own."""
        with self._cond:
            if self._closing or self._count >= self._size:
                return
            self._count += 1
            self._warming = True
            mp = self._mp = self._mp or _context()

        def start() -> None:
            try:
                child: _Child | None = _Child(mp)
            except Exception:
                log.exception("could not start an activity process ahead of time")
                child = None
            with self._cond:
                self._warming = False
                if child is None or self._closing:
                    self._count -= 1
                else:
                    self._idle.append(child)
                    child = None
                self._cond.notify_all()
            if child is not None:
                child.kill()

        threading.Thread(target=start, name="outlast-process-warmup", daemon=True).start()

    def run(
        self, d: Definition, record: ActivityRecord, ctx: ActivityContext, max_payload: int | None
    ) -> Outcome | None:
        """Run one attempt in a child; its JSON result or failure, or None when the
        pool shut down under it (the attempt then runs again on the next start)."""
        child = self._acquire(ctx)
        if child is None:
            if self._closing:
                return None
            return None, _cancelled(record.name, "before a process was free to run it")
        # The heartbeat timeout counts from the child's first beat, sent as it calls
        # the function: importing the module is not the activity's doing. A child
        # that never gets there (its import hangs) still misses its heartbeat.
        ctx._last_beat = time.monotonic() + START_ALLOWANCE
        key = (record.instance_id, record.task_id)
        with self._cond:
            closing = self._closing
            if not closing:
                self._running[key] = (ctx, child)  # from here on, shutdown kills it
        if closing:
            self._release(key, child)
            return None
        job = Job(
            d.fn.__module__,
            d.fn.__qualname__,
            record.name,
            record.input,
            record.instance_id,
            record.task_id,
            record.attempt,
            ctx.heartbeat_details,
            max_payload,
        )
        try:
            return self._exchange(child, job, ctx)
        finally:
            self._release(key, child)

    def cancel_instance(self, instance_id: str) -> None:
        """Cancel the attempts of ``instance_id`` running here (its workflow ended)."""
        with self._cond:
            for (iid, _), (ctx, _) in self._running.items():
                if iid == instance_id:
                    ctx._cancel()

    def instances(self) -> set[str]:
        """The workflows whose attempts run here now."""
        with self._cond:
            return {iid for iid, _ in self._running}

    def pids(self) -> list[int]:
        """The process IDs of the children alive now."""
        with self._cond:
            children = self._idle + [c for _, c in self._running.values()]
        return [c.pid for c in children if c.pid is not None]

    def shutdown(self) -> None:
        """Kill every child: attempts still running are dropped (their rows stay in
        the store, and they run again on the next start)."""
        with self._cond:
            self._closing = True
            children = self._idle + [c for _, c in self._running.values()]
            self._idle = []
            self._cond.notify_all()
        for child in children:
            child.kill()

    def _acquire(self, ctx: ActivityContext) -> _Child | None:
        with self._cond:
            while True:
                if self._closing or ctx.is_cancelled:
                    return None
                while self._idle:
                    child = self._idle.pop()
                    if child.alive():
                        return child
                    child.kill()
                    self._count -= 1
                if self._count < self._size and not self._warming:
                    self._count += 1
                    mp = self._mp = self._mp or _context()
                    break
                self._cond.wait(_LOOK)  # all busy, or the first one is starting
        try:
            return _Child(mp)  # outside the lock: starting a process takes a while
        except BaseException:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            raise

    def _release(self, key: tuple[str, int], child: _Child) -> None:
        with self._cond:
            self._running.pop(key, None)
            if self._closing or child.process.exitcode is not None or child.conn.closed:
                self._count -= 1
                reuse = False
            else:
                self._idle.append(child)
                reuse = True
            self._cond.notify()
        if not reuse:
            child.kill()

    def _exchange(self, child: _Child, job: Job, ctx: ActivityContext) -> Outcome | None:
        deadline: float | None = None
        try:
            child.conn.send(("run", job))
            while True:
                wait = (
                    _LOOK if deadline is None else max(0.0, min(_LOOK, deadline - time.monotonic()))
                )
                message = child.conn.recv() if child.conn.poll(wait) else None
                if message is not None:
                    kind = message[0]
                    if kind != "beat":
                        if message[2] is not None:
                            ctx._details = message[2]
                        return (message[1], None) if kind == "done" else (None, message[1])
                    ctx._last_beat = time.monotonic()
                    if message[1] is not None:
                        ctx._details = message[1]
                if deadline is None:
                    if ctx.is_cancelled:
                        child.conn.send(("cancel",))
                        deadline = time.monotonic() + self._grace
                elif time.monotonic() >= deadline:
                    child.kill()
                    return None, _cancelled(
                        job.name, f"and its process (pid {child.pid}) was killed", self._grace
                    )
        except (EOFError, OSError):
            if self._closing:
                return None
            how = child.ended()
            child.kill()
            return None, FailureDetails(
                "ActivityProcessError",
                f"the process running activity {job.name!r} (pid {child.pid}) {how}",
            )


def _cancelled(name: str, what: str, grace: float | None = None) -> FailureDetails:
    after = "" if grace is None else f" {grace:g}s later"
    return FailureDetails(
        "ActivityTimeoutError",
        f"activity {name!r} was cancelled (it timed out, or its workflow ended) {what}{after}",
    )
