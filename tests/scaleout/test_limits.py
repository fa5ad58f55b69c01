"""Cluster-wide flow control with real processes: three workers on one PostgreSQL
database share each limit. What the activities themselves noted (start and end
times, in a side table) is checked against the limits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import psycopg
import pytest

import outlast
from outlast.store.postgres import PostgresStore
from tests.pg import create_database, drop_database, require_server
from tests.scaleout import limits_app as app

pytestmark = pytest.mark.scaleout

ROOT = Path(__file__).resolve().parents[2]
WORKERS = ("w1", "w2", "w3")
DEADLINE = 90.0


class Cluster:
    def __init__(self, url: str, logs: Path) -> None:
        self.url = url
        self.logs = logs
        self.procs: list[subprocess.Popen[str]] = []
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(app.RUNS_TABLE)
            conn.execute(app.GATE_TABLE)
        self.store = PostgresStore(url)
        self.client = outlast.WorkflowClient(self.store)

    def start(self) -> None:
        for name in WORKERS:
            log = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 - lives with the process
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.scaleout.limits_app", self.url, name],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
            log.close()
            self.procs.append(proc)
        for proc in self.procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"

    def runs(self, activity: str) -> list[tuple[str, str, float, float]]:
        """(input, worker, started, ended) of each run of ``activity``, by start."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT input, worker, started, ended FROM limit_runs WHERE activity = %s "
                "ORDER BY started",
                (activity,),
            ).fetchall()
        return [(str(i), str(w), float(s), float(e)) for i, w, s, e in rows]

    def fan(self, activity: str, workflows: int, calls: int, keys: Sequence[str] = ()) -> None:
        spec = {"activity": activity, "count": calls, "keys": list(keys)}
        ids = [self.client.schedule_new_workflow(app.fan, input=spec) for _ in range(workflows)]
        for iid in ids:
            state = self.client.wait_for_workflow_completion(iid, timeout_in_seconds=DEADLINE)
            assert state is not None and state.runtime_status == outlast.WorkflowStatus.COMPLETED
            assert state.serialized_output == str(calls)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        self.store.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One cluster for the module: each test uses activities of its own."""
    require_server()
    url = create_database()
    logs = tmp_path_factory.mktemp("limits")
    c = Cluster(url, logs)
    try:
        c.start()
        yield c
    finally:
        c.close()
        drop_database(url)
        for name in sorted(os.listdir(logs)):
            sys.stderr.write(f"--- {name}\n{(logs / name).read_text()[-4000:]}")


def most_at_once(spans: Sequence[tuple[float, float]]) -> int:
    """The most spans open at one instant (an end at the very time of a start
    comes first)."""
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    best = now = 0
    for _, step in edges:
        now += step
        best = max(best, now)
    return best


def test_three_workers_never_run_more_than_the_concurrency_limit(cluster: Cluster) -> None:
    cluster.fan("capped", workflows=12, calls=8)
    runs = cluster.runs("capped")
    assert len(runs) == 96
    assert most_at_once([(s, e) for _, _, s, e in runs]) == app.CONCURRENCY
    # No worker may run more than PER_WORKER: the limit was shared and held by all.
    assert len({w for _, w, _, _ in runs}) >= 2


def test_per_key_limits_hold_across_workers(cluster: Cluster) -> None:
    keys = ["k1", "k2", "k3"]
    cluster.fan("keyed", workflows=6, calls=12, keys=keys)
    runs = cluster.runs("keyed")
    assert len(runs) == 72
    for key in keys:
        spans = [(s, e) for i, _, s, e in runs if keys[int(i) % len(keys)] == key]
        assert most_at_once(spans) == app.PER_KEY, key
    # Keys do not wait for each other: more than one key at its cap at once.
    assert most_at_once([(s, e) for _, _, s, e in runs]) > app.PER_KEY


def test_a_rate_is_never_exceeded_in_any_window(cluster: Cluster) -> None:
    cluster.fan("paced", workflows=6, calls=10)
    starts = [s for _, _, s, _ in cluster.runs("paced")]
    assert len(starts) == 60
    window = app.RATE.per.total_seconds()
    # The busiest window of one second begins at some start.
    busiest = max(
        sum(1 for t in starts[n:] if t < first + window) for n, first in enumerate(starts)
    )
    assert busiest <= app.RATE.count
    # 60 starts at 20 a second take close to 3 s: the rate, not something else, paced them.
    assert starts[-1] - starts[0] >= 2 * window


def test_priorities_order_waiting_work(cluster: Cluster) -> None:
    client = cluster.client
    gate = client.schedule_new_workflow(app.one, input={"value": "gate", "priority": 0})
    deadline = time.monotonic() + DEADLINE
    # The gate holds the only slot (its activity runs, admitted) until opened.
    while time.monotonic() < deadline:
        running = client.get_pending_activities(gate)
        if running and running[0].worker is not None:
            break
        time.sleep(0.05)
    # One at a time, each queued before the next starts: their order in line is known.
    line = [(n, [3, 7, 0, 7, 9, 3, 0, 9, 5, 7][n]) for n in range(10)]
    ids = []
    for n, priority in line:
        iid = client.schedule_new_workflow(app.one, input={"value": f"{n}", "priority": priority})
        ids.append(iid)
        while time.monotonic() < deadline:
            pending = client.get_pending_activities(iid)
            if pending and pending[0].waiting_on_limit:
                break
            time.sleep(0.02)
        [waiting] = client.get_pending_activities(iid)
        assert waiting.waiting_on_limit and waiting.priority == priority
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute("INSERT INTO limit_gate (open) VALUES (true)")
    for iid in [gate, *ids]:
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=DEADLINE)
        assert state is not None and state.runtime_status == outlast.WorkflowStatus.COMPLETED
    started = [i for i, _, _, _ in cluster.runs("ordered")]
    expected = [f"{n}" for n, _ in sorted(line, key=lambda item: (-item[1], item[0]))]
    assert started == ["gate", *expected]


def test_a_workflow_limit_caps_running_instances_across_workers(cluster: Cluster) -> None:
    client = cluster.client
    ids = [client.schedule_new_workflow(app.job, input=f"{n}") for n in range(24)]
    for iid in ids:
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=DEADLINE)
        assert state is not None and state.runtime_status == outlast.WorkflowStatus.COMPLETED
    runs = cluster.runs("in_job")
    assert sorted(i for i, _, _, _ in runs) == sorted(f"{n}" for n in range(24))
    # Each run lies within its instance's time holding a slot.
    assert most_at_once([(s, e) for _, _, s, e in runs]) == app.WORKFLOWS_AT_ONCE
    assert len({w for _, w, _, _ in runs}) >= 2
