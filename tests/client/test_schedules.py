"""The client's schedule methods on a store alone (no runtime): definitions,
validation, paging, updates; firing is in tests/runtime/test_scheduler.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import outlast
from outlast.core.schedule import ScheduleSpec
from outlast.errors import ScheduleAlreadyExistsError, ScheduleNotFoundError
from outlast.testing import FakeClock

NOW = datetime(2030, 1, 7, 12, 0, 30, tzinfo=UTC)


@pytest.fixture
def client(store_url: str) -> outlast.WorkflowClient:
    return outlast.WorkflowClient(store_url, clock=FakeClock(NOW))


def test_create_returns_the_schedule_with_its_next_run(client: outlast.WorkflowClient) -> None:
    made = client.create_schedule(
        "nightly",
        "report",
        input={"day": "today"},
        cron="30 9 * * *",
        timezone="Europe/Paris",
        jitter=timedelta(seconds=30),
        overlap="buffer_one",
        catchup="one",
    )
    assert made.next_run_at == datetime(2030, 1, 8, 8, 30, tzinfo=UTC)  # 09:30 in Paris
    got = client.get_schedule("nightly")
    assert got is not None
    assert (got.workflow, got.cron, got.every, got.timezone) == (
        "report",
        "30 9 * * *",
        None,
        "Europe/Paris",
    )
    assert got.input_as() == {"day": "today"} and got.jitter == timedelta(seconds=30)
    assert (got.overlap, got.catchup, got.paused) == ("buffer_one", "one", False)
    assert got.recent_runs == ()
    assert client.get_schedule("other") is None


def test_start_at_and_end_at(client: outlast.WorkflowClient) -> None:
    later = NOW + timedelta(days=2)
    made = client.create_schedule(
        "s", "wf", every=timedelta(hours=6), start_at=later, end_at=later + timedelta(days=1)
    )
    assert made.next_run_at == later  # the interval counts from start_at
    assert made.start_at == later and made.end_at == later + timedelta(days=1)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"cron": "*/5 * * *"}, "invalid cron expression"),
        ({"cron": "* * * * *", "every": 60}, "exactly one"),
        ({"every": timedelta(milliseconds=500)}, "whole number of seconds"),
        ({"every": 60, "timezone": "Europe/Atlantis"}, "unknown time zone"),
        ({"every": 60, "overlap": "sometimes"}, "overlap must be one of"),
    ],
)
def test_bad_arguments_are_refused_and_nothing_is_stored(
    client: outlast.WorkflowClient, kwargs: dict[str, object], error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        client.create_schedule("s", "wf", **kwargs)  # type: ignore[arg-type]
    assert client.get_schedule("s") is None


def test_ids_must_fit_in_tick_instance_ids(client: outlast.WorkflowClient) -> None:
    with pytest.raises(ValueError, match="invalid schedule ID"):
        client.create_schedule("x" * 48, "wf", every=60)


def test_a_taken_id_is_refused(client: outlast.WorkflowClient) -> None:
    client.create_schedule("s", "wf", every=60)
    with pytest.raises(ScheduleAlreadyExistsError):
        client.create_schedule("s", "other", every=120)


def test_list_pages_by_id(client: outlast.WorkflowClient) -> None:
    for sid in ("c", "a", "b"):
        client.create_schedule(sid, "wf", every=60)
    first = client.list_schedules(page_size=2)
    assert [s.schedule_id for s in first] == ["a", "b"] and first.continuation_token
    rest = client.list_schedules(page_size=2, continuation_token=first.continuation_token)
    assert [s.schedule_id for s in rest] == ["c"] and rest.continuation_token is None


def test_operations_on_a_missing_schedule_say_so(client: outlast.WorkflowClient) -> None:
    for call in (
        lambda: client.pause_schedule("nope"),
        lambda: client.resume_schedule("nope"),
        lambda: client.trigger_schedule("nope"),
        lambda: client.update_schedule("nope", every=60),
        lambda: client.backfill_schedule("nope", NOW - timedelta(hours=1), NOW),
    ):
        with pytest.raises(ScheduleNotFoundError, match="nope"):
            call()
    assert client.delete_schedule("nope") is False


def test_update_keeps_what_it_is_not_given(client: outlast.WorkflowClient) -> None:
    client.create_schedule("s", "wf", cron="0 * * * *", input=1, overlap="allow_all")
    kept = client.update_schedule("s", input=2)
    assert kept.input_as() == 2 and kept.cron == "0 * * * *" and kept.overlap == "allow_all"
    assert kept.next_run_at == datetime(2030, 1, 7, 13, tzinfo=UTC)
    switched = client.update_schedule("s", every=timedelta(minutes=10), timezone="Asia/Tokyo")
    assert switched.cron is None and switched.every == timedelta(minutes=10)
    assert switched.next_run_at == datetime(2030, 1, 7, 12, 10, tzinfo=UTC)
    cleared = client.update_schedule("s", end_at=None, jitter=None, catchup="all")
    assert cleared.catchup == "all" and cleared.end_at is None
    with pytest.raises(ValueError, match="exactly one"):
        client.update_schedule("s", cron="* * * * *", every=60)


def test_backfill_refuses_an_empty_or_huge_range(client: outlast.WorkflowClient) -> None:
    client.create_schedule("s", "wf", every=1)
    with pytest.raises(ValueError, match="later than its start"):
        client.backfill_schedule("s", NOW, NOW)
    with pytest.raises(ValueError, match="more than 10000 ticks"):
        client.backfill_schedule("s", NOW - timedelta(days=1), NOW)
    assert client.get_schedule("s", recent_runs=5).recent_runs == ()  # type: ignore[union-attr]


def test_put_creates_then_changes_only_what_differs(client: outlast.WorkflowClient) -> None:
    spec = ScheduleSpec(cron="0 * * * *")
    made = client.put_schedule("s", "wf", spec, input="a")
    assert made.next_run_at == datetime(2030, 1, 7, 13, tzinfo=UTC)
    again = client.put_schedule("s", "wf", spec, input="a")
    assert again.updated_at == made.updated_at  # nothing to change, nothing written
    client.pause_schedule("s")
    changed = client.put_schedule("s", "wf", ScheduleSpec(cron="30 * * * *"), input="b")
    assert changed.paused and changed.input_as() == "b"
    assert client.get_schedule("s").next_run_at is None  # type: ignore[union-attr]
    client.resume_schedule("s")
    assert client.get_schedule("s").next_run_at == datetime(  # type: ignore[union-attr]
        2030, 1, 7, 12, 30, tzinfo=UTC
    )


def test_unknown_workflows_are_refused_while_a_runtime_runs_here(store_url: str) -> None:
    runtime = outlast.WorkflowRuntime(store_url)

    @runtime.workflow
    def known(ctx: outlast.WorkflowContext) -> None:
        return None

    with runtime:
        client = runtime.client()
        client.create_schedule("ok", known, every=60)
        with pytest.raises(outlast.UnknownWorkflowError):
            client.create_schedule("bad", "unknown", every=60)
