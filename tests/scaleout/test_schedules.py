"""Schedules with real processes: three workers on one PostgreSQL database fire an
``every=1s`` schedule for ten seconds, racing for every tick. Each tick must start
exactly once: no instance created twice, no start message sent twice (counted by
triggers in the database itself, not by outlast), no tick left out, also when a
worker is SIGKILLed along the way."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

import outlast
from outlast.core import history as h
from outlast.core.codec import decode_event
from tests.scaleout.test_scaleout import Cluster, cluster

__all__ = ["cluster"]  # the fixture: worker processes on a database of the test's own

pytestmark = pytest.mark.scaleout

SECONDS = 10

# Every row inserted into the instances table and every ExecutionStarted message
# put in an inbox, as the database saw them (ON CONFLICT DO NOTHING inserts no row,
# and so fires no trigger).
AUDIT = """
CREATE TABLE sched_audit (what text NOT NULL, instance_id text NOT NULL);
CREATE FUNCTION sched_audit_instance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO sched_audit VALUES ('created', NEW.instance_id); RETURN NEW; END $$;
CREATE TRIGGER sched_audit_instance AFTER INSERT ON outlast_instances
    FOR EACH ROW EXECUTE FUNCTION sched_audit_instance();
CREATE FUNCTION sched_audit_start() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO sched_audit VALUES ('started', NEW.instance_id); RETURN NEW; END $$;
CREATE TRIGGER sched_audit_start AFTER INSERT ON outlast_inbox
    FOR EACH ROW WHEN (NEW.event LIKE '["ExecutionStarted"%')
    EXECUTE FUNCTION sched_audit_start();
"""


@pytest.fixture
def audited(cluster: Cluster) -> Cluster:
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(AUDIT)
    return cluster


def _audit(url: str) -> dict[str, dict[str, int]]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT what, instance_id, count(*) FROM sched_audit GROUP BY what, instance_id"
        ).fetchall()
    out: dict[str, dict[str, int]] = {"created": {}, "started": {}}
    for what, iid, n in rows:
        out[str(what)][str(iid)] = int(n)
    return out


def _sleep_until(moment: float) -> None:
    while (left := moment - time.time()) > 0:
        time.sleep(min(left, 0.5))


@pytest.mark.parametrize("kill", [False, True], ids=["all-alive", "one-killed"])
def test_three_workers_start_each_tick_exactly_once(audited: Cluster, kill: bool) -> None:
    cluster = audited
    for name in ("w1", "w2", "w3"):
        cluster.start_worker(name)
    first = math.ceil(time.time()) + 2
    ticks = [first + n for n in range(SECONDS)]
    cluster.client.create_schedule(
        "tick",
        "ticked",
        every=timedelta(seconds=1),
        start_at=datetime.fromtimestamp(first, UTC),
        end_at=datetime.fromtimestamp(first + SECONDS, UTC),
        overlap="allow_all",
        catchup="all" if not kill else "skip",
    )
    if kill:
        # A moment after a tick is due: the workers are firing it right then.
        _sleep_until(first + SECONDS // 2 + 0.002)
        cluster.kill("w2")
    _sleep_until(first + SECONDS + 1)

    expected = [f"tick-{datetime.fromtimestamp(t, UTC):%Y%m%dT%H%M%SZ}" for t in ticks]
    for iid, t in zip(expected, ticks, strict=True):
        state = cluster.client.wait_for_workflow_completion(iid, timeout_in_seconds=60)
        assert state is not None, f"tick {iid} was never started"
        assert state.runtime_status is outlast.WorkflowStatus.COMPLETED, state
        assert state.output_as() == datetime.fromtimestamp(t, UTC).isoformat()

    audit = _audit(cluster.url)
    assert audit["created"] == dict.fromkeys(expected, 1)
    assert audit["started"] == dict.fromkeys(expected, 1)
    schedule = cluster.client.get_schedule("tick", recent_runs=100)
    assert schedule is not None and schedule.next_run_at is None  # ended
    assert sorted(r.instance_id or "" for r in schedule.recent_runs) == expected
    assert {r.kind for r in schedule.recent_runs} == {"tick"}
    for iid in expected:
        events = [decode_event(e) for e in cluster.store.get_history(iid)]
        assert sum(isinstance(e, h.ExecutionStarted) for e in events) == 1, iid
