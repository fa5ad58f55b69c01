"""The schedules page: each schedule with its rule, state, next run and latest
runs, and the buttons that pause, resume or trigger it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from outlast.client.client import WorkflowClient
from outlast.client.schedule_state import Schedule
from outlast.dashboard.actions import ActionError, guarded
from outlast.dashboard.chart import duration
from outlast.errors import ScheduleNotFoundError

PAGE_SIZE: Final = 50
RECENT_RUNS: Final = 5


@dataclass(frozen=True)
class ScheduleRow:
    schedule: Schedule
    rule: str  # "cron */5 * * * * (Europe/Paris)" or "every 1m"
    state: str  # active, paused or ended


@dataclass(frozen=True)
class SchedulesView:
    rows: list[ScheduleRow]
    cursor: str | None
    next_cursor: str | None


def rule_of(schedule: Schedule) -> str:
    if schedule.cron is not None:
        return f"cron {schedule.cron} ({schedule.timezone})"
    every = schedule.every or timedelta()
    return f"every {duration(every.total_seconds())}"


def state_of(schedule: Schedule) -> str:
    if schedule.paused:
        return "paused"
    if schedule.next_run_at is None and schedule.buffered_time is None:
        return "ended"
    return "active"


def schedules_page(client: WorkflowClient, cursor: str | None) -> SchedulesView:
    """One page of schedules by ID, each with its latest runs."""
    page = client.list_schedules(
        page_size=PAGE_SIZE, continuation_token=cursor, recent_runs=RECENT_RUNS
    )
    rows = [ScheduleRow(s, rule_of(s), state_of(s)) for s in page]
    return SchedulesView(rows, cursor, page.continuation_token)


def _pause(client: WorkflowClient, schedule_id: str, note: str | None) -> str:
    client.pause_schedule(schedule_id, note=note)
    return ""


def _resume(client: WorkflowClient, schedule_id: str, note: str | None) -> str:
    client.resume_schedule(schedule_id, note=note)
    return ""


def _trigger(client: WorkflowClient, schedule_id: str, note: str | None) -> str:
    return client.trigger_schedule(schedule_id)


_ACTIONS: Final[dict[str, Callable[[WorkflowClient, str, str | None], str]]] = {
    "pause": _pause,
    "resume": _resume,
    "trigger": _trigger,
}


_DONE: Final = {"pause": "paused", "resume": "resumed", "trigger": "triggered"}


def done_message(query: Mapping[str, str]) -> str | None:
    """The line that confirms an action after its redirect. Made from a fixed
    sentence per action (the IDs are the only words a link can choose)."""
    done = _DONE.get(query.get("done", ""))
    schedule_id = query.get("schedule", "")
    if done is None or not schedule_id:
        return None
    started = query.get("started", "")
    return f"Schedule {schedule_id} {done}" + (f": started {started}." if started else ".")


def schedule_action(client: WorkflowClient, schedule_id: str, action: str, note: str | None) -> str:
    """Run one of the page's buttons: the instance a trigger started ("" for the
    others), or :class:`ActionError`."""
    run = _ACTIONS.get(action)
    if run is None:
        raise ActionError(f"unknown schedule action {action!r}", 404)

    def act() -> str:
        try:
            return run(client, schedule_id, note or None)
        except ScheduleNotFoundError as e:
            raise ActionError(str(e), 404) from e

    return guarded(act)
