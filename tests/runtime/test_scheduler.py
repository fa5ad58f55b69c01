"""Schedules fired by the runtime, driven by the test clock: each ``advance()`` is
followed by ``wait_for_pass()``, after which every tick due by then has fired."""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import outlast
from outlast import WorkflowStatus
from outlast.client.schedule_spec import instance_id_of
from outlast.core.schedule import ScheduleSpec
from outlast.testing import FakeClock
from tests.conftest import RuntimeFactory

PARIS = ZoneInfo("Europe/Paris")
START = datetime(2030, 1, 7, 12, 0, 30, tzinfo=UTC)


def tick(seconds: int) -> datetime:
    """A tick this many seconds after the top of START's minute."""
    return START.replace(second=0) + timedelta(seconds=seconds)


class Env:
    def __init__(self, make_runtime: RuntimeFactory, clock: FakeClock, **kw: Any) -> None:
        self.clock = clock
        self.runtime = make_runtime(clock=clock, **kw)
        self.released: set[str] = set()

        @self.runtime.workflow
        def quick(ctx: outlast.WorkflowContext, tag: Any = None) -> Any:
            when = ctx.scheduled_time
            return [tag, None if when is None else when.isoformat()]

        @self.runtime.workflow
        def slow(ctx: outlast.WorkflowContext) -> Generator[Any, Any, str]:
            yield ctx.wait_for_external_event("done")
            return "done"

        @self.runtime.workflow
        def looping(ctx: outlast.WorkflowContext, round_: int = 0) -> Any:
            if round_ < 2:
                ctx.continue_as_new(round_ + 1)
                return None
            when = ctx.scheduled_time
            return [round_, None if when is None else when.isoformat()]

        self.runtime.start()
        self.client = self.runtime.client()

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)
        self.settle()

    def settle(self) -> None:
        scheduler = self.runtime.scheduler
        assert scheduler is not None and scheduler.wait_for_pass()

    def finish(self, instance_id: str) -> Any:
        state = self.client.wait_for_workflow_completion(instance_id, timeout_in_seconds=10)
        assert state is not None, instance_id
        assert state.runtime_status is WorkflowStatus.COMPLETED, state
        return state.output_as()

    def status(self, instance_id: str) -> WorkflowStatus | None:
        state = self.client.get_workflow_state(instance_id)
        return None if state is None else state.runtime_status

    def started(self, schedule_id: str) -> list[str]:
        found = self.client.get_schedule(schedule_id, recent_runs=100)
        assert found is not None
        runs = [r for r in found.recent_runs if r.instance_id is not None]
        return sorted(r.instance_id for r in runs if r.instance_id)

    def release(self, instance_id: str) -> None:
        self.client.wait_for_workflow_start(instance_id, timeout_in_seconds=10)
        self.client.raise_workflow_event(instance_id, "done")
        self.finish(instance_id)


@pytest.fixture
def env(make_runtime: RuntimeFactory) -> Env:
    return Env(make_runtime, FakeClock(START))


def test_every_five_minutes_across_the_spring_change_in_paris(
    make_runtime: RuntimeFactory,
) -> None:
    # 2030-03-31: at 02:00 CET the clocks go to 03:00 CEST.
    clock = FakeClock(datetime(2030, 3, 31, 1, 41, tzinfo=PARIS))
    env = Env(make_runtime, clock)
    env.client.create_schedule(
        "paris", "quick", cron="*/5 * * * *", timezone="Europe/Paris", overlap="allow_all"
    )
    local: list[str] = []
    for _ in range(8):
        env.advance(timedelta(minutes=5))
    for iid in env.started("paris"):
        _, when = env.finish(iid)
        moment = datetime.fromisoformat(when)
        assert iid == instance_id_of("paris", moment)
        local.append(f"{moment.astimezone(PARIS):%H:%M %Z}")
    assert local == [
        "01:45 CET",
        "01:50 CET",
        "01:55 CET",
        "03:00 CEST",
        "03:05 CEST",
        "03:10 CEST",
        "03:15 CEST",
        "03:20 CEST",
    ]


def test_every_five_minutes_across_the_autumn_change_in_paris(
    make_runtime: RuntimeFactory,
) -> None:
    # 2030-10-27: at 03:00 CEST the clocks go back to 02:00 CET; 02:xx happens twice.
    clock = FakeClock(datetime(2030, 10, 27, 2, 46, tzinfo=PARIS))
    env = Env(make_runtime, clock)
    env.client.create_schedule(
        "paris", "quick", cron="*/5 * * * *", timezone="Europe/Paris", overlap="allow_all"
    )
    for _ in range(5):
        env.advance(timedelta(minutes=5))
    local = []
    for iid in env.started("paris"):
        _, when = env.finish(iid)
        local.append(f"{datetime.fromisoformat(when).astimezone(PARIS):%H:%M %Z}")
    assert local == ["02:50 CEST", "02:55 CEST", "02:00 CET", "02:05 CET", "02:10 CET"]


def test_runs_not_started_by_a_schedule_have_no_scheduled_time(env: Env) -> None:
    iid = env.client.schedule_new_workflow("quick", input="plain")
    assert env.finish(iid) == ["plain", None]


def test_a_run_continued_as_new_keeps_its_tick(env: Env) -> None:
    env.client.create_schedule("loop", "looping", input=0, every=timedelta(minutes=1))
    env.advance(timedelta(seconds=30))
    (iid,) = env.started("loop")
    assert env.finish(iid) == [2, tick(60).isoformat()]


def test_skip_passes_over_ticks_while_a_run_runs(env: Env) -> None:
    env.client.create_schedule("s", "slow", every=timedelta(minutes=1))
    first = instance_id_of("s", tick(60))
    env.advance(timedelta(seconds=30))  # 12:01: the first run starts and waits
    env.advance(timedelta(minutes=1))  # 12:02: it is still running
    assert env.status(instance_id_of("s", tick(120))) is None
    env.release(first)
    env.advance(timedelta(minutes=1))  # 12:03
    assert env.started("s") == [first, instance_id_of("s", tick(180))]
    found = env.client.get_schedule("s")
    assert found is not None
    kinds = {r.scheduled_time: r.kind for r in found.recent_runs}
    assert kinds == {tick(60): "tick", tick(120): "skipped", tick(180): "tick"}


def test_buffer_one_holds_one_tick_until_the_run_ends(env: Env) -> None:
    env.client.create_schedule("b", "slow", every=timedelta(minutes=1), overlap="buffer_one")
    first = instance_id_of("b", tick(60))
    env.advance(timedelta(seconds=30))
    env.advance(timedelta(minutes=1))  # 12:02 is held back
    env.advance(timedelta(minutes=1))  # 12:03 is dropped: one is held already
    found = env.client.get_schedule("b")
    assert found is not None and found.buffered_time == tick(120)
    assert env.started("b") == [first]
    env.release(first)
    env.settle()  # the held tick starts once the run it waited for has ended
    held = instance_id_of("b", tick(120))
    assert env.started("b") == [first, held]
    assert env.status(instance_id_of("b", tick(180))) is None
    env.release(held)
    found = env.client.get_schedule("b")
    assert found is not None and found.buffered_time is None


def test_allow_all_starts_every_tick_while_others_run(env: Env) -> None:
    env.client.create_schedule("a", "slow", every=timedelta(minutes=1), overlap="allow_all")
    env.advance(timedelta(seconds=30))
    env.advance(timedelta(minutes=1))
    env.advance(timedelta(minutes=1))
    running = [instance_id_of("a", tick(s)) for s in (60, 120, 180)]
    assert env.started("a") == running
    for iid in running:
        env.client.wait_for_workflow_start(iid, timeout_in_seconds=10)
        assert env.status(iid) is WorkflowStatus.RUNNING


def test_terminate_previous_ends_the_running_run(env: Env) -> None:
    env.client.create_schedule(
        "t", "slow", every=timedelta(minutes=1), overlap="terminate_previous"
    )
    env.advance(timedelta(seconds=30))
    first = instance_id_of("t", tick(60))
    env.client.wait_for_workflow_start(first, timeout_in_seconds=10)
    env.advance(timedelta(minutes=1))
    state = env.client.wait_for_workflow_completion(first, timeout_in_seconds=10)
    assert state is not None and state.runtime_status is WorkflowStatus.TERMINATED
    second = instance_id_of("t", tick(120))
    env.client.wait_for_workflow_start(second, timeout_in_seconds=10)
    assert env.status(second) is WorkflowStatus.RUNNING


def test_catchup_after_an_outage(make_runtime: RuntimeFactory) -> None:
    clock = FakeClock(START)
    env = Env(make_runtime, clock)
    for mode in ("skip", "one", "all"):
        env.client.create_schedule(
            mode, "quick", every=timedelta(minutes=1), catchup=mode, overlap="allow_all"
        )
    env.advance(timedelta(seconds=30))  # 12:01 runs everywhere
    env.runtime.shutdown()
    clock.advance(timedelta(minutes=10, seconds=10))  # down through 12:11:10
    Env(make_runtime, clock).settle()  # back up: a new runtime on the same store

    def times(mode: str) -> list[datetime]:
        return [env.finish(iid)[1] for iid in env.started(mode)]

    on_time = tick(60).isoformat()
    missed = [tick(60 * n).isoformat() for n in range(2, 11)]
    late = tick(660).isoformat()  # 12:11, ten seconds late, is not missed
    assert times("skip") == [on_time, late]
    assert times("one") == [on_time, missed[-1], late]
    assert times("all") == [on_time, *missed, late]
    for mode in ("skip", "one", "all"):
        for iid in env.started(mode):
            env.finish(iid)


def test_pause_and_resume(env: Env) -> None:
    env.client.create_schedule("p", "quick", every=timedelta(minutes=1), overlap="allow_all")
    env.advance(timedelta(seconds=30))
    env.client.pause_schedule("p", note="maintenance")
    paused = env.client.get_schedule("p")
    assert paused is not None and paused.paused and paused.note == "maintenance"
    assert paused.next_run_at is None
    env.advance(timedelta(minutes=3))  # 12:02, 12:03, 12:04 pass while paused
    assert env.started("p") == [instance_id_of("p", tick(60))]
    env.client.resume_schedule("p")
    resumed = env.client.get_schedule("p")
    assert resumed is not None and not resumed.paused and resumed.next_run_at == tick(300)
    env.advance(timedelta(minutes=1))
    assert env.started("p") == [instance_id_of("p", tick(s)) for s in (60, 300)]


def test_backfill_runs_each_tick_of_a_range_once(env: Env) -> None:
    env.client.create_schedule("h", "quick", cron="0 * * * *", input="hourly")
    started = env.client.backfill_schedule(
        "h", datetime(2030, 1, 7, 6, tzinfo=UTC), datetime(2030, 1, 7, 9, tzinfo=UTC)
    )
    assert started == [f"h-20300107T0{h}0000Z" for h in (6, 7, 8)]
    outputs = [env.finish(iid) for iid in started]
    assert outputs == [["hourly", f"2030-01-07T0{h}:00:00+00:00"] for h in (6, 7, 8)]
    before = env.client.get_workflow_state(started[0])
    again = env.client.backfill_schedule(
        "h", datetime(2030, 1, 7, 7, tzinfo=UTC), datetime(2030, 1, 7, 10, 30, tzinfo=UTC)
    )
    assert again == ["h-20300107T090000Z", "h-20300107T100000Z"]
    assert env.client.get_workflow_state(started[0]) == before  # not run again
    found = env.client.get_schedule("h")
    assert found is not None
    assert {r.kind for r in found.recent_runs} == {"backfill"}


def test_trigger_starts_a_run_now(env: Env) -> None:
    env.client.create_schedule("g", "quick", cron="0 0 1 1 *", input="now")
    env.client.pause_schedule("g")
    iid = env.client.trigger_schedule("g")
    assert iid == "g-20300107T120030Z"
    assert env.finish(iid) == ["now", "2030-01-07T12:00:30+00:00"]
    with pytest.raises(outlast.InstanceAlreadyExistsError):
        env.client.trigger_schedule("g")  # same second
    found = env.client.get_schedule("g")
    assert found is not None and found.recent_runs[0].kind == "trigger"
    assert found.recent_runs[0].status is WorkflowStatus.COMPLETED


def test_update_changes_timing_and_input(env: Env) -> None:
    env.client.create_schedule("u", "quick", every=timedelta(hours=1), input="old")
    changed = env.client.update_schedule("u", cron="*/2 * * * *", input="new")
    assert changed.cron == "*/2 * * * *" and changed.every is None
    assert changed.next_run_at == tick(120)
    env.advance(timedelta(minutes=2))
    [iid] = env.started("u")
    assert env.finish(iid) == ["new", tick(120).isoformat()]


def test_delete_stops_the_ticks_and_keeps_the_runs(env: Env) -> None:
    env.client.create_schedule("d", "quick", every=timedelta(minutes=1))
    env.advance(timedelta(seconds=30))
    first = instance_id_of("d", tick(60))
    env.finish(first)
    assert env.client.delete_schedule("d")
    assert not env.client.delete_schedule("d")
    env.advance(timedelta(minutes=5))
    assert env.client.get_schedule("d") is None
    assert env.status(first) is WorkflowStatus.COMPLETED
    assert env.status(instance_id_of("d", tick(120))) is None


def test_jitter_delays_each_start_by_its_own_spread(env: Env) -> None:
    env.client.create_schedule("j", "quick", every=timedelta(minutes=10), jitter=300)
    spread = ScheduleSpec(every=600, jitter=300).jitter_offset("j", int(tick(600).timestamp()))
    assert 1 < spread < 300
    env.advance(timedelta(minutes=9, seconds=30))  # the 12:10 tick
    iid = instance_id_of("j", tick(600))
    assert env.status(iid) is WorkflowStatus.PENDING  # until 12:10 + spread
    env.clock.advance(timedelta(seconds=spread))
    assert env.finish(iid) == [None, tick(600).isoformat()]


def test_a_broken_schedule_does_not_stop_the_others(env: Env) -> None:
    env.client.create_schedule("bad", "quick", every=timedelta(minutes=1))
    env.client.create_schedule("good", "quick", every=timedelta(minutes=1), overlap="allow_all")
    broken = env.runtime.store.get_schedule("bad")
    assert broken is not None
    broken.spec = '{"cron": "not a cron"}'
    assert env.runtime.store.replace_schedule(broken, broken.version)
    env.advance(timedelta(seconds=30))
    env.advance(timedelta(minutes=1))
    assert env.started("good") == [instance_id_of("good", tick(s)) for s in (60, 120)]


def test_declared_schedules_are_created_then_kept_up_to_date(
    make_runtime: RuntimeFactory, clock: FakeClock
) -> None:
    first = make_runtime(clock=clock)

    @first.schedule(cron="0 9 * * *", timezone="Europe/Paris", input={"report": "daily"})
    def report(ctx: outlast.WorkflowContext, options: dict[str, str]) -> str:
        return options["report"]

    first.start()
    client = first.client()
    made = client.get_schedule("report")
    assert made is not None and made.cron == "0 9 * * *" and made.input_as() == {"report": "daily"}
    client.pause_schedule("report")
    first.shutdown()

    second = make_runtime(clock=clock)

    @second.schedule(cron="30 9 * * *", timezone="Europe/Paris", schedule_id="report")
    def report_v2(ctx: outlast.WorkflowContext) -> str:
        return "v2"

    second.start()
    updated = second.client().get_schedule("report")
    assert updated is not None and updated.cron == "30 9 * * *"
    assert updated.workflow == "report_v2" and updated.paused  # the operator's pause stays


def test_a_bad_declaration_fails_at_once(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime()
    with pytest.raises(ValueError, match="cron"):

        @runtime.schedule(cron="61 * * * *")
        def job(ctx: outlast.WorkflowContext) -> None:
            return None
