"""The schedule part of the store contract (``StoreContract`` includes it): schedule
rows, compare-and-set by version, and fires that start each tick once."""

from __future__ import annotations

import threading

import pytest

from outlast.errors import ScheduleAlreadyExistsError
from outlast.store.base import InstanceRecord, Message, Store
from outlast.store.schedules import (
    RUN_SKIPPED,
    RUN_TICK,
    RUNS_KEPT,
    ScheduleFire,
    ScheduleRecord,
    ScheduleRun,
    ScheduleStart,
)

_W = "host:9:sched"


def schedule(sid: str, *, next_run_at: float | None = 1000.0, **kw: object) -> ScheduleRecord:
    return ScheduleRecord(
        schedule_id=sid,
        workflow="wf",
        input='{"x":1}',
        spec='{"every":60}',
        created_at=10.0,
        updated_at=10.0,
        next_run_at=next_run_at,
        **kw,  # type: ignore[arg-type]
    )


def tick_start(sid: str, tick: float, *, at: float = 1000.0) -> ScheduleStart:
    iid = f"{sid}-{int(tick)}"
    record = InstanceRecord(iid, "wf", "PENDING", f"{iid}-e", at, at, '{"x":1}')
    return ScheduleStart(
        record,
        Message(iid, f"{iid}-e", f"start {iid}", tick),
        ScheduleRun(sid, tick, iid, RUN_TICK, at),
    )


def fire(sid: str, version: int, *starts: ScheduleStart, **kw: object) -> ScheduleFire:
    kw.setdefault("next_run_at", 2000.0)
    return ScheduleFire(
        schedule_id=sid,
        expected_version=version,
        updated_at=1000.0,
        buffered_at=kw.pop("buffered_at", None),  # type: ignore[arg-type]
        last_instance_id=starts[-1].record.instance_id if starts else None,
        starts=list(starts),
        **kw,  # type: ignore[arg-type]
    )


class ScheduleContract:
    def test_schedule_create_get_list(self, store: Store) -> None:
        for sid in ("b", "a", "c"):
            store.create_schedule(schedule(sid))
        got = store.get_schedule("a")
        assert got is not None and got.version == 1 and got.workflow == "wf"
        assert got.input == '{"x":1}' and got.next_run_at == 1000.0 and got.paused is False
        assert store.get_schedule("nope") is None
        assert [s.schedule_id for s in store.list_schedules(None, 2)] == ["a", "b"]
        assert [s.schedule_id for s in store.list_schedules("b", 10)] == ["c"]
        with pytest.raises(ScheduleAlreadyExistsError):
            store.create_schedule(schedule("a"))

    def test_schedule_replace_is_compare_and_set(self, store: Store) -> None:
        store.create_schedule(schedule("s"))
        changed = schedule("s", paused=True, note="maintenance")
        assert store.replace_schedule(changed, 1)
        got = store.get_schedule("s")
        assert got is not None and got.paused and got.note == "maintenance" and got.version == 2
        assert not store.replace_schedule(schedule("s"), 1)  # stale
        assert not store.replace_schedule(schedule("gone"), 1)
        assert store.get_schedule("s") == got

    def test_schedule_delete_keeps_its_instances(self, store: Store) -> None:
        store.create_schedule(schedule("s"))
        assert store.fire_schedule(fire("s", 1, tick_start("s", 1000.0))) == ["s-1000"]
        assert store.delete_schedule("s")
        assert store.get_schedule("s") is None and store.schedule_runs("s", 10) == []
        assert store.get_instance("s-1000") is not None
        assert not store.delete_schedule("s")

    def test_due_schedules_and_the_next_due_time(self, store: Store) -> None:
        store.create_schedule(schedule("due", next_run_at=900.0))
        store.create_schedule(schedule("later", next_run_at=1500.0))
        store.create_schedule(schedule("paused", next_run_at=800.0, paused=True))
        store.create_schedule(schedule("ended", next_run_at=None))
        store.create_schedule(schedule("held", next_run_at=1600.0, buffered_at=700.0))
        assert sorted(s.schedule_id for s in store.due_schedules(1000.0, 10)) == ["due", "held"]
        assert store.next_schedule_due() == 900.0

    def test_fire_starts_ticks_and_moves_the_cursor_in_one_go(self, store: Store) -> None:
        store.create_schedule(schedule("s"))
        created = store.fire_schedule(
            fire("s", 1, tick_start("s", 900.0), tick_start("s", 960.0), next_run_at=1020.0)
        )
        assert created == ["s-900", "s-960"]
        got = store.get_schedule("s")
        assert got is not None and got.version == 2 and got.next_run_at == 1020.0
        assert got.last_instance_id == "s-960"
        assert [m.event for m in store.fetch_messages(_W, 1000.0, 10)] == [
            "start s-900",
            "start s-960",
        ]
        runs = store.schedule_runs("s", 10)
        assert [(r.scheduled_at, r.instance_id, r.kind, r.status) for r in runs] == [
            (960.0, "s-960", RUN_TICK, "PENDING"),
            (900.0, "s-900", RUN_TICK, "PENDING"),
        ]

    def test_fire_at_a_stale_version_writes_nothing(self, store: Store) -> None:
        store.create_schedule(schedule("s"))
        assert store.fire_schedule(fire("s", 1, tick_start("s", 900.0))) == ["s-900"]
        assert store.fire_schedule(fire("s", 1, tick_start("s", 960.0))) is None
        assert store.get_instance("s-960") is None
        assert [r.scheduled_at for r in store.schedule_runs("s", 10)] == [900.0]
        assert store.fire_schedule(fire("gone", 1, tick_start("gone", 900.0))) is None
        assert store.get_instance("gone-900") is None

    def test_fire_never_starts_a_taken_instance_id(self, store: Store) -> None:
        store.create_schedule(schedule("s"))
        taken = tick_start("s", 900.0)
        done = InstanceRecord("s-900", "wf", "COMPLETED", "old-e", 5.0, 6.0, None, '"out"')
        store.create_instance(done, Message("s-900", "old-e", "old start", 5.0))
        assert store.fire_schedule(fire("s", 1, taken, tick_start("s", 960.0))) == ["s-960"]
        kept = store.get_instance("s-900")
        assert kept is not None and kept.execution_id == "old-e" and kept.output == '"out"'
        events = [m.event for m in store.fetch_messages(_W, 1000.0, 10)]
        assert "start s-900" not in events and "start s-960" in events
        assert [r.instance_id for r in store.schedule_runs("s", 10)] == ["s-960"]

    def test_skipped_ticks_are_recorded_until_started(self, store: Store) -> None:
        store.create_schedule(schedule("s"))
        skip = ScheduleRun("s", 960.0, None, RUN_SKIPPED, 1000.0)
        assert store.fire_schedule(fire("s", 1, tick_start("s", 900.0), skipped=[skip])) == [
            "s-900"
        ]
        runs = store.schedule_runs("s", 10)
        assert {(r.scheduled_at, r.kind, r.status) for r in runs} == {
            (900.0, RUN_TICK, "PENDING"),
            (960.0, RUN_SKIPPED, None),
        }
        late = tick_start("s", 960.0, at=1100.0)
        assert store.fire_schedule(fire("s", 2, late)) == ["s-960"]
        newest = store.schedule_runs("s", 1)[0]
        assert (newest.scheduled_at, newest.instance_id, newest.kind) == (960.0, "s-960", RUN_TICK)

    def test_fire_sends_its_messages(self, store: Store) -> None:
        store.create_schedule(schedule("s"))
        store.fire_schedule(fire("s", 1, tick_start("s", 900.0)))
        stop = Message("s-900", None, "terminate", 1000.0)
        assert store.fire_schedule(fire("s", 2, tick_start("s", 960.0), messages=[stop])) == [
            "s-960"
        ]
        mine = [m.event for m in store.fetch_messages(_W, 1000.0, 10) if m.instance_id == "s-900"]
        assert mine == ["start s-900", "terminate"]

    def test_old_runs_are_pruned(self, store: Store) -> None:
        store.create_schedule(schedule("s"))
        ticks = [float(t) for t in range(RUNS_KEPT + 5)]
        starts = [tick_start("s", t, at=2000.0 + t) for t in ticks]
        assert store.fire_schedule(fire("s", 1, *starts)) is not None
        runs = store.schedule_runs("s", RUNS_KEPT + 10)
        assert [r.scheduled_at for r in runs] == ticks[::-1][:RUNS_KEPT]

    def test_concurrent_fires_of_one_version_apply_once(self, store: Store) -> None:
        store.create_schedule(schedule("s"))
        results: list[list[str] | None] = []
        lock = threading.Lock()
        barrier = threading.Barrier(4)

        def attempt(n: int) -> None:
            barrier.wait()
            got = store.fire_schedule(fire("s", 1, tick_start("s", 900.0 + n)))
            with lock:
                results.append(got)

        threads = [threading.Thread(target=attempt, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        applied = [r for r in results if r is not None]
        assert len(applied) == 1 and len(applied[0]) == 1
        got = store.get_schedule("s")
        assert got is not None and got.version == 2
        assert len(store.schedule_runs("s", 10)) == 1
