"""Schedules as tables for people (``--json`` prints the HTTP API's shapes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from outlast.cli.render import console, relative, status_text
from outlast.client.schedule_state import Schedule, ScheduleRun


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for size, unit in ((86_400, "d"), (3600, "h"), (60, "m")):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def timing(schedule: Schedule) -> str:
    """``*/5 * * * * (Europe/Paris)`` or ``every 5m``."""
    if schedule.cron is not None:
        zone = "" if schedule.timezone == "UTC" else f" ({schedule.timezone})"
        return f"{schedule.cron}{zone}"
    assert schedule.every is not None
    return f"every {_duration(schedule.every)}"


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z ({relative(moment)})"


def _state(schedule: Schedule) -> Text:
    if schedule.paused:
        return Text("paused", style="yellow")
    if schedule.next_run_at is None:
        return Text("ended", style="magenta")
    return Text("active", style="green")


def _last(runs: tuple[ScheduleRun, ...]) -> Text:
    started = [r for r in runs if r.instance_id is not None]
    if not started:
        return Text("-")
    if started[0].status is None:
        return Text("(purged)")
    return status_text(started[0].status)


def render_schedules(schedules: list[Schedule], token: str | None) -> None:
    out = console()
    if not schedules:
        out.print("No schedules.")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("SCHEDULE", "WORKFLOW", "WHEN", "STATE", "NEXT RUN", "LAST RUN"):
        table.add_column(column, no_wrap=column != "WHEN")
    for s in schedules:
        table.add_row(
            escape(s.schedule_id),
            escape(s.workflow),
            escape(timing(s)),
            _state(s),
            "-" if s.next_run_at is None else relative(s.next_run_at),
            _last(s.recent_runs),
        )
    out.print(table)
    if token:
        out.print(f"More schedules: add --continuation-token {token}")


def render_schedule(s: Schedule) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    grid.add_row("Schedule", escape(s.schedule_id))
    grid.add_row("Workflow", escape(s.workflow))
    grid.add_row("When", escape(timing(s)))
    grid.add_row("State", _state(s))
    grid.add_row("Next run", _when(s.next_run_at))
    grid.add_row("Overlap", s.overlap)
    grid.add_row("Catch-up", s.catchup)
    for label, value in (("Starts", s.start_at), ("Ends", s.end_at)):
        if value is not None:
            grid.add_row(label, _when(value))
    if s.jitter is not None:
        grid.add_row("Jitter", _duration(s.jitter))
    if s.buffered_time is not None:
        grid.add_row("Held tick", _when(s.buffered_time))
    if s.note:
        grid.add_row("Note", escape(s.note))
    grid.add_row("Input", escape(s.serialized_input or "-"))
    out = console()
    out.print(grid)
    if not s.recent_runs:
        return
    runs = Table(box=None, header_style="bold", pad_edge=False, title_justify="left")
    for column in ("TICK", "INSTANCE", "KIND", "STATUS", "STARTED"):
        runs.add_column(column, no_wrap=True)
    for r in s.recent_runs:
        runs.add_row(
            f"{r.scheduled_time:%Y-%m-%d %H:%M:%S}Z",
            escape(r.instance_id or "-"),
            r.kind,
            Text("-") if r.status is None else status_text(r.status),
            relative(r.started_at),
        )
    out.print()
    out.print(runs)
