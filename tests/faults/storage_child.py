"""A storage fault in a mount namespace of its own:
``unshare --mount --propagation private python -m tests.faults.storage_child FAULT DIR``.

DIR becomes a small tmpfs (gone when this process ends, whatever happens), a
runtime runs on a SQLite file in it, finishes one workflow, then the fault comes
(``disk_full``: a filler file takes the last byte; ``read_only``: the file system
is remounted read-only), a new workflow is started, and the fault goes away again.
One line of JSON on stdout says what happened.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import outlast
from outlast.errors import OutlastError
from outlast.store import SqliteStore


def double(ctx: outlast.ActivityContext, x: int) -> int:
    return x * 2


def doubled(ctx: outlast.WorkflowContext, x: int) -> Generator[Any, Any, int]:
    return int((yield ctx.call_activity(double, input=x)))


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def _fill(directory: Path) -> Path:
    """Write until the file system is full."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    chunk = b"\0" * 65536
    try:
        while True:
            try:
                os.write(fd, chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    break
                chunk = chunk[: len(chunk) // 2]
    finally:
        os.close(fd)
    return filler


def _status(client: outlast.WorkflowClient, iid: str) -> str:
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
    return "missing" if state is None else f"{state.runtime_status.value} {state.output_as()}"


def _runtime(directory: Path) -> outlast.WorkflowRuntime:
    runtime = outlast.WorkflowRuntime(SqliteStore(directory / "store.db"), poll_interval=0.05)
    runtime.register_workflow(doubled)
    runtime.register_activity(double)
    return runtime


def _disk_full(directory: Path, report: dict[str, str]) -> None:
    """The disk fills up under a running runtime, then has room again."""
    runtime = _runtime(directory)
    client = runtime.client()
    with runtime:
        client.schedule_new_workflow(doubled, input=1, instance_id="before")
        report["before"] = _status(client, "before")
        filler = _fill(directory)
        report["during"] = _attempt(lambda: client.schedule_new_workflow(doubled, input=2))
        report["read during"] = _attempt(lambda: _status(client, "before"))
        filler.unlink()
        client.schedule_new_workflow(doubled, input=3, instance_id="after")
        report["after"] = _status(client, "after")
        report["kept"] = _status(client, "before")
    runtime.store.close()


def _read_only(directory: Path, report: dict[str, str]) -> None:
    """A store opened on a file it cannot write, then again once it can."""
    runtime = _runtime(directory)
    client = runtime.client()
    with runtime:
        client.schedule_new_workflow(doubled, input=1, instance_id="before")
        report["before"] = _status(client, "before")
    runtime.store.close()
    # A read-only bind mount over the directory: even root cannot write there.
    _mount("--bind", str(directory), str(directory))
    _mount("-o", "remount,ro,bind", str(directory))
    report["during"] = _attempt(lambda: SqliteStore(directory / "store.db").close())
    _mount("-o", "remount,rw,bind", str(directory))
    runtime = _runtime(directory)
    client = runtime.client()
    with runtime:
        client.schedule_new_workflow(doubled, input=3, instance_id="after")
        report["after"] = _status(client, "after")
        report["kept"] = _status(client, "before")
    runtime.store.close()


def _attempt(action: Callable[[], object]) -> str:
    try:
        result = action()
    except OutlastError as e:
        return f"{type(e).__name__}: {e}"
    return f"accepted {result}"


FAULTS = {"disk_full": _disk_full, "read_only": _read_only}


def main() -> None:
    fault, directory = sys.argv[1], Path(sys.argv[2])
    _mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(directory))
    report: dict[str, str] = {}
    FAULTS[fault](directory, report)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
