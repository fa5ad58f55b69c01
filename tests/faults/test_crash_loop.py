"""Crash loop: a worker process SIGKILLed again and again, at random moments, in the
middle of a mixed workload (chains, fan-outs, timers, events, child workflows,
retries); then every result is checked, every history is checked for steps
recorded twice, and no activity whose end was committed ran again.

Sized for CI (well under two minutes per store); ``make soak`` runs it larger:
``OUTLAST_CRASH_KILLS`` (kills, default 10), ``OUTLAST_CRASH_PER_KIND`` (workflows
of each of the six kinds, default 10), ``OUTLAST_CRASH_SEED`` (to replay a run's
kill times; every run prints its seed).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import outlast
from outlast.core import history as h
from outlast.core.codec import decode_event
from outlast.store import Store, open_store
from tests.faults import crash_loop_app as app
from tests.workload import Workload, assert_recorded_once

ROOT = Path(__file__).resolve().parents[2]
KILLS = int(os.environ.get("OUTLAST_CRASH_KILLS", "10"))
PER_KIND = int(os.environ.get("OUTLAST_CRASH_PER_KIND", "10"))
DEADLINE_SECONDS = float(os.environ.get("OUTLAST_CRASH_DEADLINE", "90"))
# A worker lives this long (uniformly drawn) before it is killed.
LIFETIME = (0.2, 1.2)

Key = tuple[str, int]  # (instance, task)


class CrashLoop(Workload):
    """One store, the worker processes run on it one after the other, and what
    each of them was started with."""

    def __init__(self, store_url: str, work: Path, seed: int) -> None:
        self.url = store_url
        self.work = work
        self.side = work / "runs.txt"
        self.rng = random.Random(seed)
        self.store: Store = open_store(store_url)
        super().__init__(outlast.WorkflowClient(self.store), app)
        # pid -> the activities whose end was committed when that worker started.
        self.committed_at_start: dict[int, set[Key]] = {}
        self.kills = 0

    def start_worker(self) -> subprocess.Popen[str]:
        committed = self.committed()
        log = open(self.work / f"worker-{len(self.committed_at_start)}.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.crash_loop_app", self.url, str(self.side)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        log.close()
        self.committed_at_start[proc.pid] = committed
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", "the worker did not start"
        return proc

    def kill(self, proc: subprocess.Popen[str]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        self.kills += 1

    def histories(self) -> dict[str, list[h.Event]]:
        ids = [r.instance_id for r in self.client.list_workflows(page_size=10_000).states]
        return {iid: [decode_event(e) for e in self.store.get_history(iid)] for iid in ids}

    def committed(self) -> set[Key]:
        ended: set[Key] = set()
        for iid, events in self.histories().items():
            ended.update(
                (iid, e.task_id) for e in events if isinstance(e, h.TaskCompleted | h.TaskFailed)
            )
        return ended

    def runs(self) -> list[tuple[int, Key]]:
        lines = self.side.read_text().split("\n") if self.side.exists() else []
        out = []
        for line in filter(None, lines):
            pid, iid, task = line.split()
            out.append((int(pid), (iid, int(task))))
        return out

    def check_histories(self) -> int:
        """No step recorded twice in any history; how many child instances there were."""
        children = 0
        for iid, events in self.histories().items():
            assert_recorded_once(iid, events)
            children += iid not in self.expected
        return children

    def close(self) -> None:
        self.store.close()


@pytest.fixture
def seed() -> int:
    value = int(os.environ.get("OUTLAST_CRASH_SEED") or random.randrange(1 << 32))
    print(f"crash loop seed: OUTLAST_CRASH_SEED={value}")
    return value


@pytest.fixture(params=["sqlite", "postgres"])
def loop(request: pytest.FixtureRequest, tmp_path: Path, seed: int) -> Iterator[CrashLoop]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/crash.db"
    else:
        url = request.getfixturevalue("fresh_database")
    crash = CrashLoop(url, tmp_path, seed)
    try:
        yield crash
    finally:
        crash.close()


def test_random_kills_lose_nothing_and_rerun_nothing_committed(loop: CrashLoop) -> None:
    started = time.monotonic()
    loop.schedule(0, PER_KIND)
    for k in range(KILLS):
        worker = loop.start_worker()
        if k == KILLS // 2:
            loop.raise_events()  # while workers keep dying
        time.sleep(loop.rng.uniform(*LIFETIME))
        loop.kill(worker)
    survivor = loop.start_worker()
    try:
        loop.raise_events()
        loop.wait_all(DEADLINE_SECONDS)
    finally:
        survivor.send_signal(signal.SIGTERM)
        survivor.communicate(timeout=60)

    children = loop.check_histories()
    assert children == 2 * PER_KIND  # each parent ran two
    runs = loop.runs()
    # At least once: every activity whose end is in a history ran.
    ran = {key for _, key in runs}
    assert loop.committed() <= ran
    # And never again once its end was committed.
    again = [(pid, key) for pid, key in runs if key in loop.committed_at_start[pid]]
    assert not again, f"activities ran again after their result was committed: {again[:10]}"
    repeats = len(runs) - len(ran)
    print(
        f"crash loop on {loop.url.split(':')[0]}: {loop.kills} kills, "
        f"{len(loop.expected)} workflows + {children} children, {len(runs)} activity runs "
        f"({repeats} repeated after a kill, none of them committed), "
        f"{time.monotonic() - started:.1f} s"
    )
