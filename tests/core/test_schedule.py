"""Schedule specs, tick times (time zones and daylight-saving changes included) and
the decisions about due ticks: pure functions, no clock."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from outlast.core.schedule import (
    MISSED_AFTER,
    ScheduleSpec,
    plan_ticks,
    tick_instance_id,
    validate_schedule_id,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def ts(*args: int, tz: ZoneInfo = PARIS, fold: int = 0) -> int:
    return int(datetime(*args, tzinfo=tz, fold=fold).timestamp())  # type: ignore[misc]


def walk(spec: ScheduleSpec, after: int, n: int, tz: ZoneInfo = PARIS) -> list[str]:
    out = []
    for _ in range(n):
        nxt = spec.next_tick(after)
        assert nxt is not None
        out.append(f"{datetime.fromtimestamp(nxt, tz):%m-%d %H:%M %Z}")
        after = nxt
    return out


# --- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of cron= and every="),
        ({"cron": "* * * * *", "every": 60}, "exactly one of cron= and every="),
        ({"cron": "61 * * * *"}, "invalid cron expression"),
        ({"cron": "* * *"}, "invalid cron expression"),
        ({"every": 0}, "whole number of seconds"),
        ({"every": 1.5}, "whole number of seconds"),
        ({"every": 60, "timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"every": 60, "start_at": 100.0, "end_at": 50.0}, "end_at must be later"),
        ({"every": 60, "jitter": -1.0}, "jitter"),
        ({"every": 60, "overlap": "queue"}, "overlap must be one of"),
        ({"every": 60, "catchup": "most"}, "catchup must be one of"),
    ],
)
def test_bad_specs_are_refused_with_a_reason(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScheduleSpec(**kwargs)  # type: ignore[arg-type]


def test_spec_round_trips_through_its_stored_form() -> None:
    spec = ScheduleSpec(cron="0 9 * * MON", timezone="Europe/Paris", jitter=30.0, catchup="all")
    assert ScheduleSpec.from_dict(spec.to_dict()) == spec


def test_schedule_ids_leave_room_for_the_tick_suffix() -> None:
    assert validate_schedule_id("a" * 47) == "a" * 47
    for bad in ("a" * 48, "", "has space", "dot.ted"):
        with pytest.raises(ValueError, match="invalid schedule ID"):
            validate_schedule_id(bad)
    assert tick_instance_id("nightly", ts(2026, 12, 2, 9, 30, tz=ZoneInfo("UTC"))) == (
        "nightly-20261202T093000Z"
    )
    assert len(tick_instance_id("a" * 47, 0)) == 64


# --- ticks ------------------------------------------------------------------------------


def test_every_five_minutes_in_paris_runs_on_real_time_across_both_changes() -> None:
    spec = ScheduleSpec(cron="*/5 * * * *", timezone="Europe/Paris")
    assert walk(spec, ts(2030, 3, 31, 1, 50), 3) == [
        "03-31 01:55 CET",
        "03-31 03:00 CEST",  # 02:00 to 02:59 do not exist that night
        "03-31 03:05 CEST",
    ]
    autumn = walk(spec, ts(2030, 10, 27, 2, 50), 3)
    assert autumn == ["10-27 02:55 CEST", "10-27 02:00 CET", "10-27 02:05 CET"]


def test_a_daily_job_in_the_skipped_hour_runs_at_the_change_and_once_when_repeated() -> None:
    spec = ScheduleSpec(cron="30 2 * * *", timezone="Europe/Paris")
    # Debian cron's rule: a job in the hour that is skipped runs right after the change.
    assert walk(spec, ts(2030, 3, 30, 3, 0), 2) == ["03-31 03:00 CEST", "04-01 02:30 CEST"]
    # In the hour that happens twice it runs once, the first time.
    assert walk(spec, ts(2030, 10, 26, 3, 0), 2) == ["10-27 02:30 CEST", "10-28 02:30 CET"]


def test_a_daily_job_keeps_its_local_time_across_the_change() -> None:
    spec = ScheduleSpec(cron="0 9 * * *", timezone="America/New_York")
    got = walk(spec, ts(2030, 3, 9, 12, 0, tz=NEW_YORK), 2, NEW_YORK)
    assert got == ["03-10 09:00 EDT", "03-11 09:00 EDT"]
    before = ts(2030, 3, 9, 9, 0, tz=NEW_YORK)
    first = spec.next_tick(before - 1)
    assert first == before and spec.next_tick(before) == before + 23 * 3600


def test_intervals_count_from_start_at_or_the_epoch() -> None:
    assert ScheduleSpec(every=3600).next_tick(7200.5) == 10800
    assert ScheduleSpec(every=3600).next_tick(7200) == 10800  # strictly after
    anchored = ScheduleSpec(every=600, start_at=1000.0)
    assert anchored.next_tick(0) == 1000
    assert anchored.next_tick(1000) == 1600
    assert anchored.last_tick_before(2300, 0) == 2200
    assert anchored.last_tick_before(1000, 0) is None


def test_start_and_end_bound_the_ticks() -> None:
    spec = ScheduleSpec(cron="0 * * * *", start_at=7300.0, end_at=18000.0, timezone="UTC")
    assert spec.next_tick(0) == 10800  # the first hour at or after start_at
    assert spec.next_tick(14400) is None  # 18000 is excluded: the schedule has ended
    assert spec.last_tick_before(20000, 0) == 14400
    assert spec.last_tick_before(10800, 0) is None


def test_ticks_between_ignores_the_bounds_and_refuses_too_many() -> None:
    spec = ScheduleSpec(every=60, start_at=6000.0)
    assert spec.ticks_between(0, 240, 10) == [0, 60, 120, 180]
    assert ScheduleSpec(every=60, start_at=6010.0).ticks_between(0, 100, 10) == [10, 70]
    with pytest.raises(ValueError, match="more than 3 ticks"):
        spec.ticks_between(0, 600, 3)


def test_jitter_is_the_same_for_every_worker_and_within_bounds() -> None:
    spec = ScheduleSpec(every=60, jitter=30.0)
    offsets = [spec.jitter_offset("s", t) for t in range(0, 6000, 60)]
    assert offsets == [spec.jitter_offset("s", t) for t in range(0, 6000, 60)]
    assert all(0 <= o < 30 for o in offsets) and len(set(offsets)) > 90
    assert ScheduleSpec(every=60).jitter_offset("s", 0) == 0.0


# --- plans ------------------------------------------------------------------------------

NOW = 100_000.0


def every(**kw: object) -> ScheduleSpec:
    return ScheduleSpec(every=60, **kw)  # type: ignore[arg-type]


def test_a_due_tick_starts_and_the_cursor_moves_on() -> None:
    plan = plan_ticks(every(), 99_960, None, False, NOW)
    assert (plan.start, plan.next_run_at) == ([99_960], 100_020)


def test_nothing_is_due_before_the_cursor() -> None:
    plan = plan_ticks(every(), 100_020, None, False, NOW)
    assert (plan.start, plan.skipped, plan.next_run_at) == ([], [], 100_020)


def test_an_ended_schedule_plans_nothing() -> None:
    assert plan_ticks(every(), None, None, False, NOW).start == []


@pytest.mark.parametrize(
    ("catchup", "started"),
    [
        ("skip", [100_020]),  # 99_960 is 65 s overdue: missed
        ("one", [99_960, 100_020]),
        ("all", list(range(96_000, 100_021, 60))),
    ],
)
def test_catchup_decides_about_missed_ticks(catchup: str, started: list[int]) -> None:
    now = 100_020 + 5.0
    plan = plan_ticks(every(catchup=catchup, overlap="allow_all"), 96_000, None, False, now, 1000)
    assert plan.start == started
    assert plan.next_run_at == 100_080
    assert now - 99_960 > MISSED_AFTER > now - 100_020


def test_a_long_catch_up_goes_a_limited_number_at_a_time() -> None:
    spec = every(catchup="all", overlap="allow_all")
    plan = plan_ticks(spec, 0, None, False, NOW, limit=100)
    assert plan.start == list(range(0, 6000, 60)) and plan.next_run_at == 6000


def test_overlap_skip_and_allow_all() -> None:
    assert plan_ticks(every(), 99_960, None, True, NOW).skipped == [99_960]
    assert plan_ticks(every(overlap="allow_all"), 99_960, None, True, NOW).start == [99_960]


def test_buffer_one_holds_one_and_starts_it_when_the_run_has_ended() -> None:
    spec = every(overlap="buffer_one", catchup="all")
    plan = plan_ticks(spec, 99_900, None, True, NOW)
    assert (plan.start, plan.buffered, plan.skipped) == ([], 99_900, [99_960])
    later = plan_ticks(spec, 100_020, 99_900, False, NOW + 10)
    assert (later.start, later.buffered, later.next_run_at) == ([99_900], None, 100_020)
    still = plan_ticks(spec, 100_020, 99_900, True, NOW + 10)
    assert (still.start, still.buffered) == ([], 99_900)


def test_terminate_previous_starts_only_the_latest() -> None:
    spec = every(overlap="terminate_previous", catchup="all")
    plan = plan_ticks(spec, 99_900, None, True, NOW)
    assert (plan.start, plan.skipped, plan.terminate_previous) == ([99_960], [99_900], True)
    idle = plan_ticks(spec, 99_960, None, False, NOW)
    assert (idle.start, idle.terminate_previous) == ([99_960], False)


def test_cron_plans_use_the_time_zone() -> None:
    spec = ScheduleSpec(cron="0 9 * * *", timezone="Europe/Paris", catchup="one")
    nine = ts(2030, 6, 1, 9, 0)
    plan = plan_ticks(spec, nine - 86_400 * 3, None, False, nine + 3600)
    assert plan.start == [nine] and plan.next_run_at == nine + 86_400
