"""``outlast schedule``: create, list, get, pause, resume, trigger, update, delete and
backfill schedules, on a store or through a server (``--store`` / ``--url``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from outlast.cli import render
from outlast.cli.options import JsonType, Session, TimeType, target_options
from outlast.cli.schedule_backend import schedules_of
from outlast.cli.schedule_render import render_schedule, render_schedules
from outlast.client.schedule_json import schedule_json, schedule_list_json
from outlast.client.schedule_state import Schedule
from outlast.core.schedule import CATCHUPS, OVERLAPS
from outlast.errors import ScheduleNotFoundError

if TYPE_CHECKING:
    _ParamType = click.ParamType[Any, Any]
else:
    _ParamType = click.ParamType

JSON = JsonType()
TIME = TimeType()
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}


class DurationType(_ParamType):
    """``90`` or ``90s``, ``5m``, ``2h``, ``1d``."""

    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, timedelta):
            return value
        match = _DURATION.match(str(value).strip())
        if not match:
            self.fail(f"{value!r} is not a duration like 30s, 5m, 2h or 1d", param, ctx)
        return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


DURATION = DurationType()


def _timing_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options that define when a schedule ticks (create and update)."""
    options = [
        click.option("--cron", help='A cron expression, e.g. "*/5 * * * *".'),
        click.option("--every", type=DURATION, help="An interval instead: 30s, 5m, 1h, 1d."),
        click.option("--timezone", help="The cron's time zone, e.g. Europe/Paris [UTC]."),
        click.option("--input", "input_", type=JSON, help="The runs' input as JSON (@file, -)."),
        click.option("--start-at", type=TIME, help="No tick before this time."),
        click.option("--end-at", type=TIME, help="No tick at or after this time."),
        click.option("--jitter", type=DURATION, help="Spread each start over this long."),
        click.option(
            "--overlap",
            type=click.Choice(OVERLAPS),
            help="While a run still runs, a tick is: skipped, buffered (one), started "
            "anyway, or started after terminating the run [skip].",
        ),
        click.option(
            "--catchup",
            type=click.Choice(CATCHUPS),
            help="Ticks missed while no runtime ran: none, the latest, or all run [skip].",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _given(**options: Any) -> dict[str, Any]:
    return {k: v for k, v in options.items() if v is not None}


def _show(session: Session, schedule: Schedule) -> None:
    if session.as_json:
        render.print_json(schedule_json(schedule))
    else:
        render_schedule(schedule)


def _not_found(schedule_id: str) -> ScheduleNotFoundError:
    return ScheduleNotFoundError(f"no schedule with ID {schedule_id!r}")


@click.group()
def schedule() -> None:
    """Workflows that start themselves: create and manage schedules.

    \b
      outlast schedule create nightly report --cron "30 2 * * *" --timezone Europe/Paris
      outlast schedule list
      outlast schedule backfill nightly --start 7d --end 0s
    """


@schedule.command()
@click.argument("schedule_id")
@click.argument("workflow")
@_timing_options
@click.option("--paused", is_flag=True, help="Create it paused.")
@click.option("--note", help="A note kept with the schedule.")
@target_options
def create(
    session: Session,
    schedule_id: str,
    workflow: str,
    input_: Any,
    paused: bool,
    note: str | None,
    **timing: Any,
) -> None:
    """Create SCHEDULE_ID, which starts WORKFLOW at every tick of --cron or --every.

    Each tick's instance ID is SCHEDULE_ID-<tick in UTC>, e.g. nightly-20261202T023000Z.
    """
    kwargs = _given(**timing, note=note)
    if input_ is not None:
        kwargs["input"] = input_
    if paused:
        kwargs["paused"] = True
    _show(session, schedules_of(session.backend).create(schedule_id, workflow, **kwargs))


@schedule.command(name="list")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--continuation-token", help="Continue where the previous page stopped.")
@click.option("--all", "all_pages", is_flag=True, help="Fetch every page.")
@target_options
def list_(session: Session, limit: int, continuation_token: str | None, all_pages: bool) -> None:
    """List schedules with their next run and the status of their last run."""
    found: list[Schedule] = []
    token = continuation_token
    while True:
        page, token = schedules_of(session.backend).page(limit, token, 5)
        found.extend(page)
        if not (all_pages and token):
            break
    if session.as_json:
        render.print_json(schedule_list_json(found, token))
    else:
        render_schedules(found, token)


@schedule.command()
@click.argument("schedule_id")
@click.option("--runs", type=click.IntRange(0, 100), default=10, show_default=True)
@target_options
def get(session: Session, schedule_id: str, runs: int) -> None:
    """Show a schedule, its next run and its latest runs."""
    found = schedules_of(session.backend).get(schedule_id, runs)
    if found is None:
        raise _not_found(schedule_id)
    _show(session, found)


@schedule.command()
@click.argument("schedule_id")
@click.option("--note", help="Why (kept with the schedule).")
@target_options
def pause(session: Session, schedule_id: str, note: str | None) -> None:
    """Start no more runs until resumed (running ones go on)."""
    _show(session, schedules_of(session.backend).pause(schedule_id, note))


@schedule.command()
@click.argument("schedule_id")
@click.option("--note", help="Why (kept with the schedule).")
@target_options
def resume(session: Session, schedule_id: str, note: str | None) -> None:
    """Start runs again from the next tick on (missed ones: see backfill)."""
    _show(session, schedules_of(session.backend).resume(schedule_id, note))


@schedule.command()
@click.argument("schedule_id")
@target_options
def trigger(session: Session, schedule_id: str) -> None:
    """Start a run now and print its instance ID."""
    instance_id = schedules_of(session.backend).trigger(schedule_id)
    if session.as_json:
        render.print_json({"instanceID": instance_id})
    else:
        click.echo(instance_id)


@schedule.command()
@click.argument("schedule_id")
@_timing_options
@click.option("--workflow", help="Start this workflow from now on.")
@target_options
def update(
    session: Session, schedule_id: str, input_: Any, workflow: str | None, **timing: Any
) -> None:
    """Change what is given, keep the rest (--cron replaces --every and back)."""
    kwargs = _given(**timing, workflow=workflow)
    if input_ is not None:
        kwargs["input"] = input_
    if not kwargs:
        raise click.UsageError("give at least one thing to change")
    _show(session, schedules_of(session.backend).update(schedule_id, **kwargs))


@schedule.command()
@click.argument("schedule_id")
@target_options
def delete(session: Session, schedule_id: str) -> None:
    """Delete a schedule; the instances it started stay."""
    if not schedules_of(session.backend).delete(schedule_id):
        raise _not_found(schedule_id)
    if session.as_json:
        render.print_json({"scheduleID": schedule_id, "deleted": True})
    else:
        render.done(f"Deleted schedule {schedule_id}.")


@schedule.command()
@click.argument("schedule_id")
@click.option("--start", type=TIME, required=True, help="From this time (or age: 7d).")
@click.option("--end", type=TIME, required=True, help="Until before this time (0s: now).")
@target_options
def backfill(session: Session, schedule_id: str, start: datetime, end: datetime) -> None:
    """Run every tick in [--start, --end) that has not run, and print their IDs."""
    started = schedules_of(session.backend).backfill(schedule_id, start, end)
    if session.as_json:
        render.print_json({"instanceIDs": started})
    elif started:
        click.echo("\n".join(started))
    else:
        render.done("Every tick in that range has run already.")
