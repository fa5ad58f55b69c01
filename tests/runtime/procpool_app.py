"""Activities for test_procpool.py: module-level functions, so the child process
that runs them can import them. Each writes what it saw to a side file (its
input) that the test reads, since the test cannot see into the child."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import outlast


class CardDeclined(Exception):
    pass


def note(side: str, *words: Any) -> None:
    with open(side, "a") as f:
        f.write(" ".join(str(w) for w in words) + "\n")
        f.flush()
        os.fsync(f.fileno())


def notes(side: str | Path) -> list[list[str]]:
    path = Path(side)
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def hang(ctx: outlast.ActivityContext, side: str) -> str:
    """Hangs for good: asleep in attempt 1, in a busy loop (deaf to everything) after."""
    note(side, "pid", ctx.attempt, os.getpid())
    if ctx.attempt == 1:
        time.sleep(1000)
    while True:
        pass


def crash(ctx: outlast.ActivityContext, side: str) -> list[Any]:
    """Exits hard in attempt 1 (after a heartbeat), succeeds in attempt 2."""
    note(side, "pid", ctx.attempt, os.getpid())
    if ctx.attempt == 1:
        ctx.heartbeat({"done": 1})
        os._exit(3)
    return [ctx.attempt, ctx.heartbeat_details]


def crash_always(ctx: outlast.ActivityContext) -> None:
    os._exit(3)


def progress(ctx: outlast.ActivityContext, side: str) -> list[Any]:
    """Attempt 1 heartbeats and crashes; attempt 2 heartbeats, then stops (a missed
    heartbeat), sees is_cancelled, and hangs on; attempt 3 reports what it got."""
    note(side, "seen", ctx.attempt, ctx.heartbeat_details)
    if ctx.attempt == 1:
        ctx.heartbeat(1)
        os._exit(1)
    if ctx.attempt == 2:
        for done in range(2, 5):
            ctx.heartbeat(done)
            time.sleep(0.06)
        while not ctx.is_cancelled:
            time.sleep(0.01)
        note(side, "cancelled", ctx.attempt)
        time.sleep(1000)
    return [ctx.attempt, ctx.heartbeat_details]


def fail(ctx: outlast.ActivityContext, kind: str) -> None:
    if kind == "declined":
        raise CardDeclined("card 4242 declined")
    if kind == "marked":
        raise outlast.NonRetryableError("gone for good")
    if kind == "value":
        raise ValueError("bad input")
    raise ConnectionError("blip")


def wait_for_file(ctx: outlast.ActivityContext, path: str) -> int:
    """Waits for ``path`` to exist; returns its process ID."""
    while not os.path.exists(path):
        time.sleep(0.01)
    return os.getpid()


def whose_pid(ctx: outlast.ActivityContext) -> int:
    return os.getpid()


async def async_double(ctx: outlast.ActivityContext, x: int) -> list[int]:
    return [2 * x, os.getpid()]


def replaced(ctx: outlast.ActivityContext) -> int:
    return 1


REGISTERED_THEN_REPLACED = replaced


def replaced(ctx: outlast.ActivityContext) -> int:  # type: ignore[no-redef]
    return 2
