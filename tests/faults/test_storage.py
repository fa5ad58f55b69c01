"""Storage faults: the disk full, a read-only file, the file deleted under a running
runtime, a corrupted page, PostgreSQL backends terminated again and again. Each
gets a clear error where it happens, and loses nothing that was committed.

Disk full and read-only run in a mount namespace of their own (a small tmpfs,
gone when the child process ends), so they need root; elsewhere they skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Generator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import outlast
from outlast import WorkflowStatus
from outlast.core import history as h
from outlast.core.codec import decode_event
from outlast.errors import StoreError
from outlast.store import SqliteStore
from outlast.store.postgres import PostgresStore
from tests.conftest import RuntimeFactory
from tests.pg import terminate_connections

ROOT = Path(__file__).resolve().parents[2]
# A mount namespace of its own: what is mounted in it goes away with the process.
NAMESPACE = ("unshare", "--mount", "--propagation", "private")


def double(ctx: outlast.ActivityContext, x: int) -> int:
    return x * 2


def doubled(ctx: outlast.WorkflowContext, x: int) -> Generator[Any, Any, int]:
    return int((yield ctx.call_activity(double, input=x)))


def waits(ctx: outlast.WorkflowContext, payload: str) -> Generator[Any, Any, int]:
    value = yield ctx.wait_for_external_event("go")
    return int(value) + len(payload)


def _runtime(make_runtime: RuntimeFactory, **kwargs: Any) -> outlast.WorkflowRuntime:
    runtime = make_runtime(**kwargs)
    runtime.register_workflow(doubled)
    runtime.register_workflow(waits)
    runtime.register_activity(double)
    return runtime


# --- disk full, read-only: in a mount namespace ----------------------------------------


def _namespace_problem() -> str | None:
    if os.geteuid() != 0:
        return "needs root, to mount a small tmpfs in a mount namespace of its own"
    if shutil.which("unshare") is None:
        return "needs unshare (util-linux)"
    probe = subprocess.run([*NAMESPACE, "true"], capture_output=True)
    if probe.returncode != 0:
        return f"cannot make a mount namespace here: {probe.stderr.decode().strip()}"
    return None


def _in_namespace(fault: str, directory: Path) -> dict[str, str]:
    problem = _namespace_problem()
    if problem is not None:
        pytest.skip(problem)
    done = subprocess.run(
        [*NAMESPACE, sys.executable, "-m", "tests.faults.storage_child", fault, str(directory)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def test_a_full_disk_refuses_new_work_clearly_and_loses_nothing(tmp_path: Path) -> None:
    report = _in_namespace("disk_full", tmp_path)
    assert report["during"] == "StoreError: SQLite commit failed: database or disk is full"
    assert report["read during"] == "accepted COMPLETED 2"
    # Once there is room again the same runtime goes on, and the old result is there.
    assert report["after"] == "COMPLETED 6"
    assert report["kept"] == "COMPLETED 2"


def test_a_read_only_file_is_refused_at_open_with_the_reason(tmp_path: Path) -> None:
    report = _in_namespace("read_only", tmp_path)
    assert report["during"].startswith("StoreError: cannot open SQLite database")
    assert "is read-only" in report["during"]
    assert report["after"] == "COMPLETED 6"
    assert report["kept"] == "COMPLETED 2"


# --- the file deleted under a running runtime ------------------------------------------


def test_a_deleted_file_stops_the_runtime_from_reporting_success(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    db = tmp_path / "deleted.db"
    runtime = _runtime(make_runtime, store=f"sqlite:///{db}")
    client = runtime.client()
    runtime.start()
    done = client.schedule_new_workflow(doubled, input=1)
    state = client.wait_for_workflow_completion(done, timeout_in_seconds=30)
    assert state is not None and state.output_as() == 2
    db.unlink()
    # It used to go on in the unlinked file: COMPLETED now, gone after a restart.
    with pytest.raises(StoreError, match="was deleted while the store had it open"):
        client.schedule_new_workflow(doubled, input=2)
    with pytest.raises(StoreError, match="was deleted"):
        client.get_workflow_state(done)
    with pytest.raises(StoreError, match="was deleted"):
        runtime.store.probe()
    with pytest.raises(StoreError, match="was deleted"):
        runtime.shutdown()  # it cannot even sign its worker off: it says so


# --- a corrupted page ------------------------------------------------------------------

MARK = "corrupt-me-" * 8
# Past what SQLite keeps in a table page: the end of the value, where the mark is,
# lies in overflow pages of its own. Under the compression threshold (16 KiB).
PADDING = "p" * 9000


def _corrupt_pages_holding(path: Path, mark: str) -> int:
    """Overwrite every page of the (checkpointed) file that holds ``mark``."""
    data = bytearray(path.read_bytes())
    size = int.from_bytes(data[16:18], "big")
    page_size = 65536 if size == 1 else size
    pages = set()
    start = data.find(mark.encode())
    while start != -1:
        pages.add(start // page_size)
        start = data.find(mark.encode(), start + 1)
    for page in pages:
        data[page * page_size : (page + 1) * page_size] = b"\xff" * page_size
    path.write_bytes(bytes(data))
    return len(pages)


def _waiting(
    make_runtime: RuntimeFactory, db: Path, count: int, *, marked_event: bool = False
) -> list[str]:
    """``count`` instances waiting for an event, the first of them marked: its input
    carries the mark, or (``marked_event``) an event for it that waits in its inbox.
    The runtime is stopped and the store closed: the file is checkpointed."""
    store = SqliteStore(db)
    runtime = _runtime(make_runtime, store=store)
    client = runtime.client()
    ids = [f"w{n:03}" for n in range(count)]
    with runtime:
        for n, iid in enumerate(ids):
            marked = n == 0 and not marked_event
            client.schedule_new_workflow(
                waits, input=PADDING + MARK if marked else "", instance_id=iid
            )
        for iid in ids:
            client.wait_for_workflow_start(iid, timeout_in_seconds=30)
    if marked_event:
        client.raise_workflow_event(ids[0], "go", data=PADDING + MARK)
    store.close()
    return ids


def test_a_corrupted_page_is_a_clear_error_and_spares_the_rest(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    db = tmp_path / "corrupt.db"
    bad, *good = _waiting(make_runtime, db, 5)
    assert _corrupt_pages_holding(db, MARK) >= 1
    store = SqliteStore(db)
    try:
        client = outlast.WorkflowClient(store)
        with pytest.raises(StoreError, match="SQLite read failed"):
            client.get_workflow_state(bad)
        for iid in good:
            state = client.get_workflow_state(iid)
            assert state is not None and state.runtime_status is WorkflowStatus.RUNNING
            assert client.get_workflow_history(iid)
    finally:
        store.close()


def test_one_corrupted_row_among_many_is_set_aside(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # The corrupt row is a message in one instance's inbox: each round read it
    # with all the others, failed, and so nothing went on at all.
    db = tmp_path / "corrupt.db"
    bad, *good = _waiting(make_runtime, db, 200, marked_event=True)
    assert _corrupt_pages_holding(db, MARK) >= 1
    store = SqliteStore(db)
    runtime = _runtime(make_runtime, store=store)
    client = runtime.client()
    try:
        with runtime:
            for iid in good:
                client.raise_workflow_event(iid, "go", data=1)
            fresh = client.schedule_new_workflow(doubled, input=21)
            state = client.wait_for_workflow_completion(fresh, timeout_in_seconds=30)
            assert state is not None and state.output_as() == 42
            for iid in good:
                state = client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
                assert state is not None and state.runtime_status is WorkflowStatus.COMPLETED
            # The one whose message cannot be read waits, STALLED, with the reason
            # (once a round has read its message: under load, maybe after the others).
            deadline = time.monotonic() + 30
            state = client.get_workflow_state(bad)
            while state is not None and state.runtime_status is not WorkflowStatus.STALLED:
                assert time.monotonic() < deadline, state
                time.sleep(0.05)
                state = client.get_workflow_state(bad)
            assert state is not None and state.runtime_status is WorkflowStatus.STALLED
            assert state.failure_details is not None
            assert "cannot be read" in state.failure_details.message
    finally:
        store.close()


# --- PostgreSQL: backends terminated again and again -----------------------------------


def chain(ctx: outlast.WorkflowContext, n: int) -> Generator[Any, Any, int]:
    for _ in range(5):
        n = yield ctx.call_activity(slow_double, input=n)
    yield ctx.create_timer(timedelta(milliseconds=50))
    return int(n)


def slow_double(ctx: outlast.ActivityContext, x: int) -> int:
    time.sleep(0.01)
    return x * 2


TERMINATIONS = 12  # rounds of pg_terminate_backend, a quarter of a second apart


def test_postgresql_backends_terminated_repeatedly_lose_and_repeat_nothing(
    fresh_database: str,
) -> None:
    # pg_terminate_backend on the test's own database only: nobody else is touched.
    store = PostgresStore(fresh_database)
    runtime = outlast.WorkflowRuntime(store, poll_interval=0.05)
    runtime.register_workflow(chain)
    runtime.register_activity(slow_double)
    client = runtime.client()
    terminated: list[int] = []

    def terminator() -> None:
        for _ in range(TERMINATIONS):
            time.sleep(0.25)
            terminated.append(terminate_connections(fresh_database))

    killer = threading.Thread(target=terminator)
    ids: dict[str, int] = {}
    try:
        with runtime:
            killer.start()
            while killer.is_alive():  # new work all the while backends die
                for _ in range(5):
                    n = len(ids) + 1
                    ids[client.schedule_new_workflow(chain, input=n)] = n
                time.sleep(0.1)
            for iid, n in ids.items():
                state = client.wait_for_workflow_completion(iid, timeout_in_seconds=120)
                assert state is not None, iid
                assert state.runtime_status is WorkflowStatus.COMPLETED, state
                assert state.output_as() == n * 32
        ends = {}
        for iid in ids:
            events = [decode_event(e) for e in store.get_history(iid)]
            ends[iid] = [e.task_id for e in events if isinstance(e, h.TaskCompleted)]
    finally:
        killer.join()
        store.close()
    assert sum(terminated) >= TERMINATIONS, terminated
    print(f"{len(ids)} workflows; {sum(terminated)} backends terminated in {TERMINATIONS} rounds")
    assert all(set(e) == set(range(5)) for e in ends.values()), ends
    twice = {iid: e for iid, e in ends.items() if len(e) != len(set(e))}
    assert not twice, f"activity results in history twice: {twice}"
