"""Scale-out with real processes: three workers on one PostgreSQL database.

Each worker is a subprocess running ``tests/scaleout/app.py``; this process is the
client. Every test checks every result and, from the stored histories, that no
instance's turn was committed twice (contiguous sequence numbers, each step
scheduled once).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import outlast
from outlast.core import history as h
from outlast.core.codec import decode_event
from outlast.store.postgres import PostgresStore
from tests.pg import can_restart_server, ensure_server_running, restart_server
from tests.scaleout import app

pytestmark = pytest.mark.scaleout

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 3.0
PER_KIND = 60  # 5 kinds: 300 workflows
DEADLINE_SECONDS = 150.0


class Cluster:
    """Worker processes on one database, and a client in this process."""

    def __init__(self, url: str, logs: Path) -> None:
        self.url = url
        self.logs = logs
        self.workers: dict[str, subprocess.Popen[str]] = {}
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(app.RUNS_TABLE)
        self.store = PostgresStore(url)
        self.client = outlast.WorkflowClient(self.store)
        self.expected: dict[str, int] = {}
        self.events: list[str] = []

    def start_worker(self, name: str) -> None:
        log = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 - lives with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.scaleout.app", self.url, name, str(LEASE_SECONDS)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        log.close()
        self.workers[name] = proc
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "ready", f"worker {name} did not start: {self.log_of(name)}"

    def log_of(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()

    def schedule(self, first: int, count: int) -> None:
        """Schedule ``count`` workflows of each kind, inputs from ``first`` on."""
        for n in range(first, first + count):
            for wf in app.WORKFLOWS:
                iid = f"{wf.__name__}-{n}"
                self.client.schedule_new_workflow(wf, input=n, instance_id=iid)
                self.expected[iid] = app.expected(wf.__name__, n)
                if wf is app.event:
                    self.events.append(iid)

    def raise_events(self) -> None:
        for iid in self.events:
            self.client.raise_workflow_event(iid, "go", data=app.EVENT_DATA)
        self.events = []

    def wait_all(self) -> None:
        deadline = time.monotonic() + DEADLINE_SECONDS
        for iid, value in self.expected.items():
            remaining = max(1.0, deadline - time.monotonic())
            state = self.client.wait_for_workflow_completion(iid, timeout_in_seconds=remaining)
            assert state is not None, iid
            assert state.runtime_status is outlast.WorkflowStatus.COMPLETED, (iid, state)
            assert state.output_as() == value, iid

    def owned(self) -> dict[str, list[str]]:
        """Unfinished instances by the name of the worker that owns them."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT owner, instance_id FROM outlast_instances "
                "WHERE owner IS NOT NULL AND status NOT IN ('COMPLETED', 'FAILED') "
                "ORDER BY instance_id"
            ).fetchall()
        out: dict[str, list[str]] = {}
        for owner, iid in rows:
            # Worker IDs are host:pid:suffix, and each worker's host is scaleout-NAME.
            name = str(owner).split(":")[0].removeprefix("scaleout-")
            out.setdefault(name, []).append(str(iid))
        return out

    def runs_of(self, instance_id: str) -> list[str]:
        """The workers that ran the instance's activities."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT worker FROM scaleout_runs WHERE instance_id = %s", (instance_id,)
            ).fetchall()
        return [str(r[0]) for r in rows]

    def pending(self) -> int:
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM outlast_instances WHERE status = 'PENDING'"
            ).fetchone()
        assert row is not None
        return int(row[0])

    def workers_that_ran_activities(self) -> set[str]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            rows = conn.execute("SELECT DISTINCT worker FROM scaleout_runs").fetchall()
        return {str(r[0]) for r in rows}

    def check_histories(self) -> None:
        """Every instance's history was written one turn after the other: sequence
        numbers 0..n-1, one start, one end, and each step scheduled exactly once."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT instance_id, seq, event FROM outlast_history ORDER BY instance_id, seq"
            ).fetchall()
            instances = conn.execute("SELECT count(*) FROM outlast_instances").fetchone()
        histories: dict[str, list[tuple[int, str]]] = {}
        for iid, seq, text in rows:
            histories.setdefault(iid, []).append((seq, text))
        assert instances is not None and len(histories) == instances[0]
        children = 0
        for iid, events in histories.items():
            assert [seq for seq, _ in events] == list(range(len(events))), iid
            decoded = [decode_event(text) for _, text in events]
            assert isinstance(decoded[0], h.OrchestratorStarted), iid
            assert isinstance(decoded[1], h.ExecutionStarted), iid
            assert isinstance(decoded[-1], h.ExecutionCompleted), iid
            assert sum(isinstance(e, h.ExecutionStarted) for e in decoded) == 1, iid
            assert sum(isinstance(e, h.ExecutionCompleted) for e in decoded) == 1, iid
            scheduled = [
                e.task_id
                for e in decoded
                if isinstance(e, h.TaskScheduled | h.TimerCreated | h.SubOrchestrationCreated)
            ]
            assert len(scheduled) == len(set(scheduled)), (iid, scheduled)
            children += iid not in self.expected
        assert children == sum(1 for i in self.expected if i.startswith("parent-"))

    def kill(self, name: str) -> None:
        proc = self.workers.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def close(self) -> None:
        for proc in self.workers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        self.store.close()


@pytest.fixture
def cluster(fresh_database: str, tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(fresh_database, tmp_path)
    try:
        yield c
    finally:
        c.close()
        for name in sorted(os.listdir(tmp_path)):
            sys.stderr.write(f"--- {name}\n{(tmp_path / name).read_text()[-4000:]}")


def test_three_workers_run_300_workflows(cluster: Cluster) -> None:
    for name in ("w1", "w2", "w3"):
        cluster.start_worker(name)
    cluster.schedule(0, PER_KIND)
    cluster.raise_events()
    cluster.wait_all()
    cluster.check_histories()
    assert len(cluster.workers_that_ran_activities()) >= 2


def test_killed_worker_is_taken_over_after_its_lease(cluster: Cluster) -> None:
    for name in ("w1", "w2", "w3"):
        cluster.start_worker(name)
    cluster.schedule(0, PER_KIND)
    # The event workflows wait for an event held back until after the kill, so
    # once nothing is PENDING every worker owns some of them, stuck.
    deadline = time.monotonic() + DEADLINE_SECONDS
    while cluster.pending() and time.monotonic() < deadline:
        time.sleep(0.1)
    owned = cluster.owned()
    victim = max(owned, key=lambda name: sum(i.startswith("event-") for i in owned[name]))
    stranded = [i for i in owned[victim] if i.startswith("event-")]
    assert stranded
    cluster.kill(victim)
    cluster.raise_events()
    cluster.wait_all()
    cluster.check_histories()
    assert cluster.owned() == {}
    # Their only activity ran after the kill: on the workers that took them over.
    for iid in stranded:
        assert cluster.runs_of(iid) and victim not in cluster.runs_of(iid), iid


@pytest.mark.skipif(not can_restart_server(), reason="needs the local cluster, as root")
def test_workers_and_clients_survive_a_server_restart(cluster: Cluster) -> None:
    for name in ("w1", "w2", "w3"):
        cluster.start_worker(name)
    half = PER_KIND // 2
    cluster.schedule(0, half)
    try:
        restart_server()
    finally:
        ensure_server_running()
    cluster.schedule(half, PER_KIND - half)  # the client reconnects by itself
    cluster.raise_events()
    cluster.wait_all()
    cluster.check_histories()
