"""What runs inside an activity worker process (``isolation="process"``).

The process gets one end of a pipe. A reader thread takes jobs and cancel
requests off it; the main thread runs one job at a time and sends back
heartbeats and the outcome. When the worker that owns the pipe goes away (shut
down, or killed), the read ends and the process exits at once, whatever the
activity is doing: nothing is left running behind a dead worker.

Messages, worker to child: ``("run", Job)``, ``("cancel",)``; child to worker:
``("beat", details_json | None)``, ``("done", result_json | None, details)``,
``("failed", FailureDetails, details)``.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import sys
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from queue import SimpleQueue
from typing import Any

from outlast.core.context import ActivityContext
from outlast.core.registry import Definition
from outlast.core.serialization import encode_payload
from outlast.errors import FailureDetails

# Heartbeats reach the worker at most this often (the latest details always go).
BEAT_EVERY = 0.05


@dataclass(frozen=True, slots=True)
class Job:
    module: str
    qualname: str
    name: str
    input: str | None
    workflow_id: str
    task_id: int
    attempt: int
    heartbeat_details: Any
    max_payload: int | None


def resolve(module: str, qualname: str) -> Any:
    """The object ``module.qualname`` names (a script run as ``__main__`` is
    imported again as ``__mp_main__`` in the child; multiprocessing maps it)."""
    obj: Any = sys.modules["__main__"] if module == "__main__" else importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


class ChildContext(ActivityContext):
    """``ActivityContext`` in the child: heartbeats go down the pipe, and
    ``is_cancelled`` is set by the worker's cancel request."""

    __slots__ = ("_flag", "_pending", "_send", "_sent")

    def __init__(self, job: Job, send: _Sender, flag: threading.Event) -> None:
        super().__init__(job.workflow_id, job.task_id, job.name, job.attempt, job.heartbeat_details)
        self._send = send
        self._flag = flag
        self._sent = 0.0
        self._pending = False

    @property
    def is_cancelled(self) -> bool:
        return self._flag.is_set()

    def heartbeat(self, details: Any = None) -> None:
        super().heartbeat(details)
        now = self._last_beat
        if now - self._sent >= BEAT_EVERY:
            self._sent = now
            self._pending = False
            self._send(("beat", self._details))
        else:
            self._pending = True


class _Sender:
    """Sends from any thread of the activity (it may heartbeat from several)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def __call__(self, message: tuple[Any, ...]) -> None:
        with self._lock:
            self._conn.send(message)


def main(conn: Connection) -> None:
    """The child's entry point (``multiprocessing.Process(target=main)``)."""
    jobs: SimpleQueue[Job] = SimpleQueue()
    cancelled = threading.Event()

    def read() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                os._exit(0)  # the worker is gone: so is whatever runs here
            if message[0] == "cancel":
                cancelled.set()
            elif message[0] == "run":
                jobs.put(message[1])

    threading.Thread(target=read, name="outlast-child-reader", daemon=True).start()
    send = _Sender(conn)
    definitions: dict[tuple[str, str], Definition] = {}
    while True:
        job = jobs.get()
        # A cancel sent for the job before this one was read before this job was.
        cancelled.clear()
        ctx = ChildContext(job, send, cancelled)
        try:
            result = _run(job, ctx, definitions)
        except BaseException as e:
            # Whatever the activity raises (SystemExit included) fails this attempt;
            # the process lives on for the next one.
            send(("failed", FailureDetails.from_exception(e), ctx._details))
        else:
            send(("done", result, ctx._details))


def _run(job: Job, ctx: ChildContext, definitions: dict[tuple[str, str], Definition]) -> str | None:
    key = (job.module, job.qualname)
    d = definitions.get(key)
    if d is None:
        try:
            fn = resolve(job.module, job.qualname)
        except Exception as e:
            raise ImportError(
                f"activity {job.name!r}: cannot find {job.module}.{job.qualname} in its "
                f"process ({type(e).__name__}: {e}); a process-isolated activity must be "
                "a module-level function of an importable module"
            ) from e
        d = definitions[key] = Definition.of(fn, job.name)
    args = d.arguments(ctx, job.input)
    # The heartbeat timeout counts from here: importing the module is not the
    # activity's doing.
    ctx._send(("beat", None))
    value = d.fn(*args)
    if inspect.iscoroutine(value):
        value = asyncio.run(value)
    return encode_payload(value, job.max_payload, "the result of activity {}", job.name)
